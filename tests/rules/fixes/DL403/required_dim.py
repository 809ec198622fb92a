import torch

maps = torch.randn(8, 21, 64, 64)


def probabilities(logits):
    return torch.softmax(logits)


segmentation = maps.log_softmax()


def top(logits):
    return logits.softmax(
    ).max(dim=-1).values
