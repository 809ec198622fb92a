# %%
import torch
from torch import nn

# %%
# Three ways to write a Sequential: only printed and run once.
net1 = nn.Sequential()
net1.add_module("conv", nn.Conv2d(3, 3, 3))
net1.add_module("batchnorm", nn.BatchNorm2d(3))
net1.add_module("activation_layer", nn.ReLU())

net2 = nn.Sequential(nn.Conv2d(3, 3, 3), nn.BatchNorm2d(3), nn.ReLU())
print("net1:", net1)
print("net2:", net2)

# %%
x = torch.rand(1, 3, 4, 4)
output = net1(x)
output = net2(x)
output = net2[2](net2[1](net2[0](x)))
output = net1.batchnorm(net1.conv(x))


# %%
class NestMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(40, 30), nn.ReLU())

    def forward(self, x):
        return self.net(x)


class FancyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(20, 20)

    def forward(self, x):
        return self.linear(x).relu()


chimera = nn.Sequential(NestMLP(), nn.Linear(30, 20), FancyMLP())
print(chimera(torch.rand(2, 40)))
