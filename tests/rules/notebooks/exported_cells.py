# %%
#| default_exp layers
import torch
from torch import nn

# %%
#| export
class Block(nn.Module):
    "The notebook is this library's source: what it exports is trained elsewhere."
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)  # expect: DL301
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()

# %%
Block()(torch.rand(1, 3, 8, 8)).shape
