# %%
import torch
from torch import nn

# %%
net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))  # expect: DL202

# %%
# A hand-written update: the gradients are applied, in a loop.
for epoch in range(3):
    loss = net(torch.rand(16, 4)).pow(2).mean()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
            p.grad.zero_()
