import torch
from torch import optim
from torch.optim import Adam, AdamW

a = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
b = optim.AdamW(model.parameters(), 1e-3, (0.9, 0.999), 1e-8, 5e-4)
c = AdamW(model.parameters(), weight_decay=1e-4)
