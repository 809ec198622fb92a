import torch
import torch.nn as nn
import torch.nn.functional as F


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.body(x)


model = Classifier()
criterion = nn.CrossEntropyLoss()
for images, labels in loader:
    loss = criterion(model(images), labels)
    loss.backward()

head = nn.Linear(128, 10)
for features, labels in loader:
    F.cross_entropy(F.log_softmax(head(features), dim=-1), labels).backward()
    F.cross_entropy(torch.log(F.softmax(head(features), dim=-1)), labels).backward()
    F.cross_entropy(head(features).softmax(-1).log(), labels).backward()
