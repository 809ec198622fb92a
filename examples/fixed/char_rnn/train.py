"""Training and sampling script for the model in models.py: gradients clipped before every
step, sampling in eval mode."""
import torch
import torch.nn.functional as F

from models import CharLSTM


def train(model, batches, epochs=20, lr=2e-3, max_norm=1.0):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for inputs, targets in batches:
            logits = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()


@torch.no_grad()
def sample(model, prompt, steps=200):
    model.eval()
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
