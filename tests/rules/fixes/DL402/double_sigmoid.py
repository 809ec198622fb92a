import torch
import torch.nn as nn
import torch.nn.functional as F


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(128, 20)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


model = Tagger()
criterion = nn.BCEWithLogitsLoss()
for x, y in loader:
    logits = model(x)
    criterion(logits, y).backward()

probe = nn.Linear(16, 1)
for x, y in loader:
    F.binary_cross_entropy_with_logits(probe(x).sigmoid(), y).backward()
