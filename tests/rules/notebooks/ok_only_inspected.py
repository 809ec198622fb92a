# %%
import torch
from torch import nn
from torch.nn import init

# %%
# Parameter sharing: one layer twice; the gradient is computed once to show it doubles.
linear = nn.Linear(1, 1, bias=False)
net = nn.Sequential(linear, linear)
print(net)
for name, param in net.named_parameters():
    init.constant_(param, val=3)
    print(name, param.data)
print(id(net[0]) == id(net[1]))
y = net(torch.ones(1, 1)).sum()
y.backward()
print(net[0].weight.grad)

# %%
# Per-block initialisation, printed.
def init_42(m):
    if type(m) == nn.Linear:
        nn.init.constant_(m.weight, 42)

block1 = nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 5))
block1.apply(init_42)
print(block1[0].weight.data[0], block1.state_dict())
