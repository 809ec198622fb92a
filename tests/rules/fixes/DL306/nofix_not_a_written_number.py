import torch.nn as nn

BN_MOMENTUM = 0.9
KERAS_MOMENTUM = 0.8

shared_constant = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
positional_constant = nn.BatchNorm2d(64, KERAS_MOMENTUM)
momentum_passed_too = nn.BatchNorm2d(64, 0.8, 0.1)


class Block(nn.Module):
    def __init__(self, channels, bn_momentum=0.1):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels, momentum=bn_momentum)

    def forward(self, x):
        return self.bn(self.conv(x)).relu()


block = Block(64, bn_momentum=0.99)
