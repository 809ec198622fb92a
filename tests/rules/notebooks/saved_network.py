# %%
import torch
from torch import nn

# %%
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, 3))  # expect: DL102
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(torch.relu(x @ self.weight))


net = Net()
torch.save(net.state_dict(), "net.pth")
