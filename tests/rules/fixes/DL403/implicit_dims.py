import torch
import torch.nn as nn
import torch.nn.functional as F

head = nn.Sequential(nn.Linear(512, 10), nn.LogSoftmax())
scores = torch.randn(32, 10)
maps = torch.randn(8, 21, 64, 64)
sequences = torch.randn(8, 16, 100)

p_scores = F.softmax(scores)
p_maps = F.softmax(maps)
p_sequences = F.softmax(sequences)
p_last = F.log_softmax(sequences[:, -1])
none_given = F.softmin(scores, dim=None)


def predict(logits):
    return F.softmax(logits).argmax(1)
