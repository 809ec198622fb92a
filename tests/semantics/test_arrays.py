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
