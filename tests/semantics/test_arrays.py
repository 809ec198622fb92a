"""Shapes of NumPy arrays the code builds, as the tensors made from them carry them."""

from __future__ import annotations

import pytest

from tests.semantics.helpers import semantics

PRELUDE = "import numpy as np\nimport torch\n\nN = 20\n"


def _shape_of_tensor(expression: str, setup: str = "") -> object:
    sem = semantics(PRELUDE + setup + f"t = {expression}\nprint(t)\n")
    sem.traces  # evaluate
    made = [t for t in sem.evaluator.tensors if t.kind == "fresh"]
    assert made, "no tensor was made"
    return sem.evaluator.arrays.shape(made[-1])


@pytest.mark.parametrize(
    ("setup", "expression", "shape"),
    [
        ("", "torch.from_numpy(np.linspace(0, 1, N))", (20,)),
        ("", "torch.from_numpy(np.sin(np.linspace(0, 1, N))[np.newaxis, :, np.newaxis])", (1, 20, 1)),
        ("d = np.sin(np.linspace(0, 1, N + 1))\nd.resize((N + 1, 1))\n", "torch.Tensor(d[:-1])", (20, 1)),
        ("", "torch.tensor(np.zeros((3, N)).reshape(N, 3))", (20, 3)),
        ("k = np.random.randint(1, 4)\n", "torch.from_numpy(np.linspace(0, 1, 10 * k))", (30,)),
        ("", "torch.from_numpy(np.arange(N)[2:8])", (6,)),
        ("", "torch.from_numpy(np.linspace(0, 1))", (50,)),
    ],
)
def test_shapes_fixed_by_constants(setup: str, expression: str, shape: tuple) -> None:
    assert _shape_of_tensor(expression, setup) == shape


@pytest.mark.parametrize(
    ("setup", "expression"),
    [
        ("import sys\nn = int(sys.argv[1])\n", "torch.from_numpy(np.linspace(0, 1, n))"),
        ("", "torch.from_numpy(np.load('x.npy'))"),
        ("k = np.random.randint(1, 4)\n", "torch.from_numpy(np.linspace(0, 1, 10 - k))"),
    ],
)
def test_unknown_shapes_stay_unknown(setup: str, expression: str) -> None:
    assert _shape_of_tensor(expression, setup) is None


@pytest.mark.parametrize(
    ("setup", "expression", "shape"),
    [
        # one-hot rows picked by a list of word ids: the vocabulary size is not known
        ("vocab = {w: i for i, w in enumerate(set(open('v').read().split()))}\n",
         "torch.FloatTensor(np.eye(len(vocab))[[vocab[w] for w in 'i like dog'.split()]])", (3, None)),
        ("", "torch.LongTensor([[1, 2, 3], [4, 5, 6]])", (2, 3)),
        ("", "torch.LongTensor([np.asarray([0, 1]) for c in 'abcdef'])", (6, 2)),
        # a list filled by a loop over literal sentences, one append per sentence
        ("rows = []\nfor s in ['a b c', 'd e f', 'g h i']:\n    rows.append(np.eye(N)[[0 for w in s.split()[:-1]]])\n",
         "torch.FloatTensor(rows)", (3, 2, 20)),
        # padded to the longest sentence: list + [0] * (max_len - len(ids))
        ("max_len = len('a b c d e'.split())\nids = [1, 2]\n", "torch.LongTensor(ids + [0] * (max_len - len(ids)))", (5,)),
        # a list element replaced before use: the new string's length counts
        ("pairs = [['man', 'woman']]\nfor p in pairs:\n    p[0] = p[0] + 'P' * (6 - len(p[0]))\n",
         "torch.LongTensor([1 for c in pairs[0][0]])", (6,)),
    ],
)
def test_lists_of_known_length(setup: str, expression: str, shape: tuple) -> None:
    assert _shape_of_tensor(expression, setup) == shape


@pytest.mark.parametrize(
    ("setup", "expression"),
    [
        ("lines = open('f').read().splitlines()\n", "torch.LongTensor([[1 for w in s.split()] for s in lines])"),
        # appended under a condition: how many rows is not known
        ("import random\nrows = []\nfor s in ['a', 'b']:\n    if random.random() > 0.5:\n        rows.append([1, 2])\n",
         "torch.LongTensor(rows)"),
        # appended in a loop that runs more times than the evaluation unrolls
        ("rows = []\nfor i in range(1000):\n    rows.append([i, i])\n", "torch.LongTensor(rows)"),
        ("", "torch.FloatTensor([['a', 'b']])"),
        ("", "torch.LongTensor([w for w in 'a b c'.split() if w != 'b'])"),
    ],
)
def test_lists_of_unknown_length_stay_unknown(setup: str, expression: str) -> None:
    shape = _shape_of_tensor(expression, setup)
    assert shape is None or shape[0] is None
