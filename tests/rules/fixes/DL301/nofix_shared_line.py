import torch.nn as nn


def block(cin, cout, normalize=True):
    layers = [nn.Conv2d(cin, cout, 3, padding=1)]
    if normalize:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.LeakyReLU(0.2)]


net = nn.Sequential(*block(3, 64, normalize=False), *block(64, 128))
