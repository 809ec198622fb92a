# %%
import torch
from torch import nn


# %%
# Defined and never built (here, to show model parallelism; elsewhere, the first cell of a
# notebook still being written): not a demonstration, still judged.
class VeryBigModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.param1 = nn.Parameter(torch.randn(1000, 1000))  # expect: DL102
        self.param2 = nn.Parameter(torch.randn(1000, 1000))

    def forward(self, x):
        return x.mm(self.param1).relu().mm(self.param2)
