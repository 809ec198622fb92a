import torch.nn as nn


def block(width, p):
    # p comes from each caller: the line builds a 0.9 dropout here and a 0.2 one below, so
    # rewriting it would change both.
    return nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Dropout(p))


encoder = block(256, 0.9)
decoder = block(256, 0.2)


class Net(nn.Module):
    def __init__(self, rate=0.5):
        super().__init__()
        self.drop = nn.Dropout(rate)

    def forward(self, x):
        return self.drop(x)


# Reported at this call (the value comes from here), where a fix would have to rename intent.
model = Net(rate=0.95)
