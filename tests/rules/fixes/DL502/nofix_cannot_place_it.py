import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x))


def validate(model, batch):
    # Training resumes after this call, but the block returns from inside it: a
    # `model.train()` after it would never run.
    with torch.no_grad():
        return F.cross_entropy(model(batch[0]), batch[1]).item()


model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    validate(model, val_batch)

# The model is not a plain name or attribute.
models = [Net(), Net()]
with torch.no_grad():
    outputs = models[0](inputs)

# The model is rebound inside the inference block.
with torch.no_grad():
    net = Net()
    outputs = net(inputs)
