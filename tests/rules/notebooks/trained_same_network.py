# %%
import torch
from torch import nn

# %%
net = nn.Sequential(nn.Linear(20, 256), nn.Linear(256, 10))  # expect: DL202
print(net)
net(torch.rand(2, 20))

# %%
optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
loss_fn = nn.CrossEntropyLoss()
for x, y in [(torch.rand(8, 20), torch.randint(0, 10, (8,)))]:
    optimizer.zero_grad()
    loss_fn(net(x), y).backward()
    optimizer.step()
