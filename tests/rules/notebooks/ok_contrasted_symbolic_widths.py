# %%
# Spiral classification: a linear model, then the same widths with a ReLU between the layers.
import torch
from torch import nn

D = 2  # dimensions
C = 3  # classes
H = 100  # hidden units
X = torch.rand(300, D)
y = torch.randint(0, C, (300,))

# %%
# nn package to create our linear model
model = nn.Sequential(
    nn.Linear(D, H),
    nn.Linear(H, C),
)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
for t in range(1000):
    loss = nn.CrossEntropyLoss()(model(X), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

# %%
models = []
for mod in range(10):
    model = nn.Sequential(
        nn.Linear(D, H),
        nn.ReLU() if mod < 5 else nn.Tanh(),
        nn.Linear(H, C),
    )
    models.append(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for t in range(1000):
        loss = nn.CrossEntropyLoss()(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
