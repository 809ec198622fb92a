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


# The loss is computed in a helper that also scores probabilities from elsewhere.
def bce(probabilities, targets):
    return nn.functional.binary_cross_entropy(probabilities, targets)


head = nn.Linear(16, 1)
for x, y, other in loader:
    bce(torch.sigmoid(head(x)), y).backward()
    bce(other, y).backward()


# One training function for two models: only one of them ends in this sigmoid, so the loss
# call cannot switch to BCEWithLogitsLoss for both.
class WithSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


def fit(model, batches):
    loss_fn = nn.BCELoss()
    for x, y in batches:
        loss_fn(model(x), y).backward()


fit(WithSigmoid(), loader)
fit(torch.load("calibrated.pt"), loader)
