import torch
import torch.nn as nn
import torch.nn.functional as F

head = nn.Sequential(nn.Linear(512, 10), nn.LogSoftmax(dim=-1))
scores = torch.randn(32, 10)
maps = torch.randn(8, 21, 64, 64)
sequences = torch.randn(8, 16, 100)

p_scores = F.softmax(scores, dim=1)
p_maps = F.softmax(maps, dim=1)
p_sequences = F.softmax(sequences, dim=0)
p_last = F.log_softmax(sequences[:, -1], dim=1)
none_given = F.softmin(scores, dim=1)


def predict(logits):
    return F.softmax(logits, dim=-1).argmax(1)
