"""Raw weights: trainable tensors applied with a matrix product (semantics/weights.py)."""

from dllint.semantics.weights import initial, rank
from tests.semantics.helpers import semantics


def _weights(sem):
    """{line of the creating node: initial kind} for every trainable raw weight."""
    positions = sem.positions()
    return {positions[weight.node].start.line: initial(sem, weight).kind for weight, _ in sem.raw_weights.weights()}


def test_module_level_weights_made_trainable_in_every_way_are_found():
    sem = semantics(
        """
        import torch
        from torch import nn

        W1 = nn.Parameter(torch.randn(784, 256) * 0.01)
        W2 = torch.zeros(256, 256, requires_grad=True)
        W3 = torch.randn(256, 128)
        W3.requires_grad_()
        W4 = torch.normal(0, 1, size=(128, 64))
        W5 = torch.randn(64, 10) / 8
        for p in (W4,):
            p.requires_grad = True
        frozen = nn.Parameter(torch.randn(10, 10), requires_grad=False)
        shown = torch.randn(10, 10)
        opt = torch.optim.SGD([W5], lr=0.1)

        def net(X):
            h = torch.relu(X @ W1)
            h = torch.relu(torch.mm(h, W2))
            h = torch.relu(torch.matmul(h, W3.t()))
            h = torch.relu(h @ W4)
            return (h @ W5) @ frozen @ shown

        for X, y in loader:
            loss = net(X).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        """
    )
    assert _weights(sem) == {5: "scaled", 6: "constant", 7: "unit", 9: "unit", 10: "scaled"}


def test_a_lookup_table_is_not_a_weight_a_slice_is():
    sem = semantics(
        """
        import torch
        from torch import nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.C = nn.Parameter(torch.randn(27, 10))
                self.W = nn.Parameter(torch.empty(30, 200).normal_())
                self.head = nn.Linear(100, 27)

            def forward(self, idx):
                emb = self.C[idx].view(-1, 30)
                return self.head(torch.tanh(emb @ self.W[:, :100]))
        """
    )
    assert _weights(sem) == {9: "unit"}


def test_of_two_created_tensors_the_right_one_is_the_weight():
    sem = semantics(
        """
        import torch
        from torch import nn

        class Latent(nn.Module):
            def __init__(self):
                super().__init__()
                self.z = nn.Parameter(torch.randn(16, 128))
                self.W = nn.Parameter(torch.randn(128, 128) * 0.1)

            def forward(self):
                return torch.relu(self.z @ self.W)
        """
    )
    assert _weights(sem) == {9: "scaled"}


def test_products_of_trainable_raw_weights_are_known_per_graph():
    sem = semantics(
        """
        import torch
        from torch import nn
        import torch.nn.functional as F

        class TwoMaps(nn.Module):
            def __init__(self):
                super().__init__()
                self.W1 = nn.Parameter(torch.randn(64, 32) * 0.1)
                self.register_buffer("basis", torch.eye(32))

            def forward(self, x):
                return F.linear(F.linear(x, self.W1), self.basis)
        """
    )
    graph = next(g for g in sem.forward_graphs)
    products = [t for t in graph.tensors if t.kind == "function"]
    assert [sem.raw_weights.weight_of(t) is not None for t in products] == [True, False]


def test_rank_counts_the_sizes_of_a_constructor():
    import libcst as cst

    def call(text):
        return cst.parse_expression(text)

    assert rank(call("torch.zeros(3, 4)")) == 2
    assert rank(call("torch.zeros((3, 4), device=d)")) == 2
    assert rank(call("torch.full((3, 4), 0.5)")) == 2
    assert rank(call("torch.normal(0, 1, (3, 4))")) == 2
    assert rank(call("torch.normal(0, 1, size=(3,))")) == 1
    assert rank(call("torch.zeros(*shape)")) == 0
