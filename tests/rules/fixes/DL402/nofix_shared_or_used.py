import torch
import torch.nn as nn

# The sigmoid's output is also thresholded into predictions: it must stay.
model = nn.Sequential(nn.Linear(16, 1), nn.Sigmoid())
criterion = nn.BCELoss()
for x, y in loader:
    probs = model(x)
    criterion(probs, y).backward()
    predictions = probs > 0.5

# The criterion object also scores probabilities that come from elsewhere: switching it to
# BCEWithLogitsLoss would break that call.
scorer = nn.Sequential(nn.Linear(16, 1), nn.Sigmoid())
shared = nn.BCELoss()
for x, y, teacher_probs in loader:
    shared(scorer(x), y).backward()
    shared(teacher_probs, y).backward()
