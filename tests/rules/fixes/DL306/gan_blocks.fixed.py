import torch.nn as nn


class Generator(nn.Module):
    def __init__(self, latent_dim=100, channels=1):
        super().__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, momentum=0.2))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(latent_dim, 128, normalize=False),
            *block(128, 256),
            nn.Linear(256, 784),
            nn.Tanh(),
        )
        self.conv_blocks = nn.Sequential(
            nn.Conv2d(128, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(
                64,
                momentum=0.2,
            ),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, channels, 3, stride=1, padding=1),
        )

    def forward(self, z):
        return self.model(z)


encoder_bn = nn.BatchNorm2d(256, momentum=0.01)
head_bn = nn.BatchNorm1d(512, 1e-3, 0.1)
sync_bn = nn.SyncBatchNorm(64, eps=1e-3, momentum=0.003)
meant_pytorch_momentum = nn.BatchNorm2d(32, momentum=0.05)
frozen_affine = nn.BatchNorm2d(64, momentum=0.2, affine=False)
