import torch
from torch import optim
from torch.optim import Adam

a = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
b = optim.Adam(model.parameters(), 1e-3, (0.9, 0.999), 1e-8, 5e-4)
c = Adam(model.parameters(), weight_decay=1e-4)
