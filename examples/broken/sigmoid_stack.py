"""A deep fully connected classifier with sigmoid hidden activations (DL201)."""
import torch.nn as nn


def make_classifier(in_features=64, hidden=128, depth=5, classes=10):
    layers = [nn.Linear(in_features, hidden), nn.Sigmoid()]
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden), nn.Sigmoid()]
    layers.append(nn.Linear(hidden, classes))
    return nn.Sequential(*layers)
