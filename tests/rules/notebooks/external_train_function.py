# %%
import torch
from torch import nn
import d2l

# %%
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5), nn.BatchNorm2d(6), nn.Sigmoid(),  # expect: DL301
    nn.Flatten(), nn.Linear(6 * 24 * 24, 10),
)

# %%
def init_weights(m):
    if type(m) == nn.Linear:
        nn.init.constant_(m.weight, 0.0)  # expect: DL101

net.apply(init_weights)
d2l.train_ch5(net, train_iter, test_iter, num_epochs=5, lr=0.9)
