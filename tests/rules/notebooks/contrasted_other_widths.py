# %%
# A collapse whose would-be repair has other widths, or widths dllint cannot tell.
import torch
from torch import nn


def train(model, features):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        model(torch.rand(8, features)).sum().backward()
        optimizer.step()


# %%
linear = nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 1))  # expect: DL202
train(linear, 2)
wider_output = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 3))
train(wider_output, 2)


# %%
class Net(nn.Module):
    def __init__(self, features, classes):
        super().__init__()
        self.fc1 = nn.Linear(features, features)
        self.fc2 = nn.Linear(features, classes)

    def forward(self, x):
        return self.fc2(self.fc1(x))  # expect: DL202


class ReluNet(nn.Module):
    def __init__(self, features, classes):
        super().__init__()
        self.fc1 = nn.Linear(features, features)
        self.fc2 = nn.Linear(features, classes)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


# Widths read from data dllint cannot evaluate, swapped: the same parameter names say nothing.
n_in, n_out = torch.load("shape.pt")
net = Net(n_in, n_out)
optimizer = torch.optim.Adam(net.parameters())
relu_net = ReluNet(n_out, n_in)
optimizer = torch.optim.Adam(relu_net.parameters())

# %%
# An activation commented out together with a layer: a removed sub-network, not a removed activation.
head = nn.Sequential(
    nn.Linear(16, 64),
    # nn.Linear(64, 64),
    # nn.ReLU(),
    nn.Linear(64, 1),  # expect: DL202
)
train(head, 16)
