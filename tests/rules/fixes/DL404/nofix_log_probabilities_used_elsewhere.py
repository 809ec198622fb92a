import torch.nn as nn
import torch.nn.functional as F

# The model returns log-probabilities on purpose for another consumer (an NLL metric, a
# beam search): its log_softmax stays, only the loss input could change.

model = nn.Sequential(nn.Linear(784, 10), nn.LogSoftmax(dim=1))
criterion = nn.CrossEntropyLoss()
for images, labels in loader:
    log_probs = model(images)
    criterion(log_probs, labels).backward()
    nll = F.nll_loss(log_probs, labels).item()
