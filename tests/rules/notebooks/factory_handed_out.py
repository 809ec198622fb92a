# %%
import torch
from torch import nn
import d2l

# %%
def get_net():
    return nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))  # expect: DL202


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3),  # expect: DL301
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.body(x)


MODELS = {"small": Small}  # (built by name elsewhere: never built here)

# %%
d2l.train_regression(get_net, epochs=3)
