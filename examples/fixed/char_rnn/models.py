"""A character-level language model (an LSTM)."""
import torch.nn as nn


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, hidden=512, layers=2, dropout=0.3):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)
