import torch
import torch.nn as nn
import torch.nn.functional as F

# The model's probabilities are also used for something else (a metric, a prediction
# returned to the caller, a trainer from a library): dropping its softmax would change them.

model = nn.Sequential(nn.Linear(784, 10), nn.Softmax(dim=1))
criterion = nn.CrossEntropyLoss()
for images, labels in loader:
    probs = model(images)
    loss = criterion(probs, labels)
    loss.backward()
    confidence = probs.max(dim=1).values.mean()


def predict(images):
    return model(images)


shared = nn.Sequential(nn.Linear(784, 10), nn.Softmax(dim=1))
for images, labels in loader:
    criterion(shared(images), labels).backward()
trainer.fit(shared)

# The softmax is kept in a variable first: the fix does not rewrite assignments.
head = nn.Linear(784, 10)
for images, labels in loader:
    scores = F.softmax(head(images), dim=1)
    criterion(scores, labels).backward()

# The Sequential's layers are also reached by position: removing the last one would shift them.
net = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10), nn.Softmax(dim=1))
features = net[:2]
for images, labels in loader:
    criterion(net(images), labels).backward()
