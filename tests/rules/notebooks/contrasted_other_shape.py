# %%
# A notebook with a collapse and a correct network of another shape: no contrast, the
# collapse is a forgotten activation.
import torch
from torch import nn


def train(model, features):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        model(torch.rand(8, features)).sum().backward()
        optimizer.step()


# %%
head = nn.Sequential(
    nn.Linear(2, 10),
    nn.Linear(10, 10),  # expect: DL202
    nn.Linear(10, 1),  # expect: DL202
)
train(head, 2)

# %%
# Fewer weight layers than the collapse: not the same network repaired.
shallow = nn.Sequential(nn.Linear(2, 10), nn.ReLU(), nn.Linear(10, 1))
train(shallow, 2)

# %%
# Another input width.
mnist = nn.Sequential(nn.Linear(784, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1))
train(mnist, 784)

# %%
# Not purely linear: one activation forgotten, next to its repair.
almost = nn.Sequential(
    nn.Linear(4, 10),
    nn.ReLU(),
    nn.Linear(10, 10),
    nn.Linear(10, 1),  # expect: DL202
)
train(almost, 4)
fixed = nn.Sequential(nn.Linear(4, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1))
train(fixed, 4)


# %%
# A collapse inside a bigger network (a VAE's mean head) is no lesson about a whole network,
# even when a same-widths network with an activation stands elsewhere.
class Encoder(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Flatten())
        self.fc_mu = nn.Sequential(nn.Linear(32 * 7 * 7, 800), nn.Linear(800, hidden_size))  # expect: DL202

    def forward(self, x):
        return self.fc_mu(self.conv(x))


encoder = Encoder(20)
optimizer = torch.optim.Adam(encoder.parameters())
probe = nn.Sequential(nn.Linear(32 * 7 * 7, 800), nn.ReLU(), nn.Linear(800, 20))
train(probe, 32 * 7 * 7)
