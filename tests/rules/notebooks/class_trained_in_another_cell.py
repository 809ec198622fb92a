# %%
import torch
from torch import nn


class FancyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(20, 256)
        self.output = nn.Linear(256, 10)

    def forward(self, x):
        return self.output(self.hidden(x))  # expect: DL202


# %%
# Only shown here...
demo = FancyMLP()
demo(torch.rand(2, 20))

# %%
# ...and trained here: the finding about the class stays.
model = FancyMLP()
optimizer = torch.optim.Adam(model.parameters())
for x in [torch.rand(8, 20)]:
    optimizer.zero_grad()
    model(x).sum().backward()
    optimizer.step()
