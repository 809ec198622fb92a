# dllint-test-options: {"keep-prob-names": true}
import torch.nn as nn
import torch.nn.functional as F

KEEP = 0.9

head = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.1), nn.Linear(256, 10))
constant = nn.Dropout(p=1 - KEEP)
spatial = nn.Dropout2d(0.2)


class Net(nn.Module):
    def __init__(self, keep_prob):
        super().__init__()
        self.drop = nn.Dropout(1 - keep_prob)
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        x = F.dropout(x, 0.15, training=self.training)
        return self.fc(self.drop(x))
