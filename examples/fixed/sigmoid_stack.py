"""A deep fully connected classifier with ReLU hidden activations and batch norm."""
import torch.nn as nn


def make_classifier(in_features=64, hidden=128, depth=5, classes=10):
    layers = [nn.Linear(in_features, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, classes))
    return nn.Sequential(*layers)
