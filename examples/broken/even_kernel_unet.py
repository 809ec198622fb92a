"""A U-Net style block with an even kernel and "same" padding (DL203): the output grows by a
pixel at every layer and the skip connection no longer matches."""
import torch
import torch.nn as nn


class DoubleConv(nn.Module):
    def __init__(self, cin, cout, kernel_size=3):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.net(x)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = DoubleConv(3, 32)
        self.down2 = DoubleConv(32, 64, kernel_size=4)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        skip = self.down1(x)
        return self.down2(self.pool(skip)), skip


if __name__ == "__main__":
    print([t.shape for t in Encoder()(torch.randn(1, 3, 64, 64))])
