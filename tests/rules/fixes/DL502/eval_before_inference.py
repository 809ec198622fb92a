import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def predict(images):
    model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
    with torch.inference_mode():
        return model(images).softmax(dim=1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 10)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x))


def evaluate(model, loader):
    total = 0.0
    with torch.no_grad():
        for x, y in loader:
            total += F.cross_entropy(model(x), y).item()
    return total


model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for x, y in loader:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    print(evaluate(model, val_loader))


@torch.no_grad()
def generate(model, prompt, steps=20):
    """Greedy decoding."""
    tokens = prompt
    for _ in range(steps):
        tokens = torch.cat([tokens, model(tokens)[:, -1:].argmax(-1)], dim=1)
    return tokens


generate(torch.load("lm.pt"), prompt)
