"""The catalog's layer facts that rules compare across layers."""

from __future__ import annotations

import pytest

from dllint.semantics.catalog import LAYERS


@pytest.mark.parametrize(
    ("name", "dims", "spatial"),
    [
        ("Conv2d", 2, 2),
        ("BatchNorm1d", 1, 1),
        ("AdaptiveAvgPool3d", 3, 3),
        # A Linear's input is usually (N, features): BatchNorm1d's rank, without spatial axes.
        ("Linear", 1, 0),
        ("LazyLinear", 1, 0),
        ("LayerNorm", None, None),
        ("SyncBatchNorm", None, None),
    ],
)
def test_layer_dimensionality(name: str, dims, spatial) -> None:
    op = LAYERS[f"torch.nn.{name}"]
    assert (op.dims, op.spatial_dims) == (dims, spatial)
