import torch
import torch.nn.functional as F


def step(model, optimizer, x, y):
    # backward() and step() are in this helper, the loop that repeats them in its caller:
    # the optimizer has another name there.
    F.cross_entropy(model(x), y).backward()
    optimizer.step()


def fit(model, loader):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        step(model, opt, x, y)


def rebuilt_each_time(model, loader):
    for x, y in loader:
        # The optimizer is created inside the loop (its state resets each step).
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def one_line_loop(model, loader, optimizer):
    for x, y in loader: F.cross_entropy(model(x), y).backward(); optimizer.step()
