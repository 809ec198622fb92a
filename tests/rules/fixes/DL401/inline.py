import torch.nn as nn
import torch.nn.functional as F

model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
criterion = nn.CrossEntropyLoss()
for images, labels in loader:
    logits = model(images)
    loss = criterion(F.softmax(logits, dim=1), labels)
    loss.backward()
    accuracy = (logits.argmax(1) == labels).float().mean()
