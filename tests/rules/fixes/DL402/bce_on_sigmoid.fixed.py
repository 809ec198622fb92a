import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import BCELoss, BCEWithLogitsLoss


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

    def forward(self, x):
        return self.net(x)


def train_step(disc, real, optimizer):
    criterion = nn.BCEWithLogitsLoss()
    loss = criterion(disc(real), torch.ones(real.size(0), 1))
    loss.backward()
    optimizer.step()


train_step(Discriminator(), real_batch, optimizer)

probe = nn.Linear(16, 1)
loss_fn = BCEWithLogitsLoss(reduction="sum")
for x, y in loader:
    loss_fn(probe(x), y).backward()
    F.binary_cross_entropy_with_logits(probe(x), y).backward()
