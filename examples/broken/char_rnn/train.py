"""Training and sampling script for the model in models.py: the LSTM's gradients are never
clipped (DL501, found across files) and sampling runs in training mode (DL502)."""
import torch
import torch.nn.functional as F

from models import CharLSTM


def train(model, batches, epochs=20, lr=2e-3):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for inputs, targets in batches:
            logits = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


@torch.no_grad()
def sample(model, prompt, steps=200):
    tokens = prompt
    for _ in range(steps):
        logits = model(tokens)[:, -1]
        next_token = torch.multinomial(F.softmax(logits, dim=-1), 1)
        tokens = torch.cat([tokens, next_token], dim=1)
    return tokens


def main(batches, prompt):
    model = CharLSTM(vocab_size=96)
    train(model, batches)
    return sample(model, prompt)
