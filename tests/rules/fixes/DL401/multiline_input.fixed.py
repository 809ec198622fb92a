import torch
import torch.nn as nn
import torch.nn.functional as F


class Fusion(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(8, 4)

    def forward(self, x):
        return torch.cat([self.a(x),
                                    self.b(x)], dim=1)


def train(model, loader):
    for x, y in loader:
        F.cross_entropy(model(x), y).backward()


train(Fusion(), loader)
