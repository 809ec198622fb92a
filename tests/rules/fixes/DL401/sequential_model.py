import torch.nn as nn

model = nn.Sequential(
    nn.Linear(784, 128),
    nn.ReLU(),
    nn.Linear(128, 10),
    nn.Softmax(dim=1),
)
criterion = nn.CrossEntropyLoss()
for images, labels in loader:
    outputs = model(images)
    loss = criterion(outputs, labels)
    loss.backward()
