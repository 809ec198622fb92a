from __future__ import annotations

from typing import Iterator, Optional

from dllint.rules.base import Report, Rule, TextEdit
from dllint.semantics import FileSemantics, Tensor, describe, short_name

# Operations that keep the rank of their input: the dimensionality seen by the BatchNorm is
# that of the layer before them.
_RANK_PRESERVING = ("activation", "dropout", "identity", "pad")


class BatchNormDimMismatch(Rule):
    """
    ## What it does
    Flags a `BatchNorm1d`/`BatchNorm2d`/`BatchNorm3d` fed directly — in an `nn.Sequential` or
    through `forward`'s dataflow, looking through activations, dropout, padding and
    `nn.Identity` — by a layer of another dimensionality: a `Conv3d` (or 3-D pooling, 3-D
    norm) into `BatchNorm2d`, a `Conv2d` into `BatchNorm1d`, a `Conv1d` into `BatchNorm2d`, a
    `Linear` (whose output is `(N, features)`) into `BatchNorm2d` or `BatchNorm3d` — and, the
    other way round, a BatchNorm whose output feeds only a layer of another spatial
    dimensionality (an input normaliser `BatchNorm2d` in front of a `Conv3d`). The fix renames
    the norm to the matching dimensionality.

    Not flagged: a reshape between them (`flatten`, `view`, `nn.Flatten`, `nn.Unflatten`,
    `permute`), which changes the rank on purpose; `Linear → BatchNorm1d` and
    `Conv1d → BatchNorm1d` (both correct: `BatchNorm1d` takes `(N, C)` and `(N, C, L)`); a
    BatchNorm in front of a `Linear`, which applies to the last axis of any rank;
    `SyncBatchNorm` (any rank).

    ## Why is this bad?
    Batch normalisation computes one mean and variance *per channel* over every other axis
    (Ioffe & Szegedy, 2015, §3.2), and the `1d/2d/3d` suffix fixes which rank of input it accepts:
    `(N, C[, L])`, `(N, C, H, W)`, `(N, C, D, H, W)`. A `Conv2d` output is 4-D, so a
    `BatchNorm1d` after it raises at the first forward pass ("expected 2D or 3D input"); a
    `Conv3d` into `BatchNorm2d` does the same. The mismatch usually comes from copying a 2-D
    block into a 1-D or 3-D model and changing the conv but not the norm; catching it
    statically saves a failed launch, and where a reshape makes the shapes line up by
    accident, the statistics are computed over the wrong axis.

    ## Example
    ```python
    import torch.nn as nn

    block = nn.Sequential(nn.Conv3d(1, 16, kernel_size=3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
    head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 100), nn.BatchNorm2d(100), nn.ReLU())
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    block = nn.Sequential(nn.Conv3d(1, 16, kernel_size=3, padding=1), nn.BatchNorm3d(16), nn.ReLU())
    head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 100), nn.BatchNorm1d(100), nn.ReLU())
    ```

    ## References
    - Ioffe & Szegedy, [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167), ICML 2015 (per-channel statistics for convolutional layers)
    - [PyTorch: torch.nn.BatchNorm1d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm1d.html) (input `(N, C)` or `(N, C, L)`)
    - [PyTorch: torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html) (input `(N, C, H, W)`)
    - [PyTorch: torch.nn.BatchNorm3d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm3d.html) (input `(N, C, D, H, W)`)
    """

    code = "DL304"
    name = "batchnorm-dim-mismatch"
    summary = "BatchNorm whose dimensionality differs from the layer that feeds it"
    fixable = True

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for graph in sem.all_graphs():
            for tensor, norm in graph.module_applications():
                if norm.op.kind != "norm" or norm.op.family != "batch" or norm.op.dims is None or not tensor.inputs:
                    continue
                source = _dimensioned_source(tensor.inputs[0])
                fed = _dimensioned_consumer(graph, tensor) if source is None else None
                neighbour = source or fed
                if neighbour is None:
                    continue
                op = neighbour.module_op
                dims = op.dims  # type: ignore[union-attr]
                if dims is None or dims == norm.op.dims or id(norm.node) in reported:
                    continue
                reported.add(id(norm.node))
                wanted = norm.qualified[:-2] + f"{dims}d"
                relation = f"is fed by {describe(neighbour)}, whose output" if source else f"feeds {describe(neighbour)}, whose input"
                spatial = op.spatial_dims  # type: ignore[union-attr]
                yield Report(
                    norm.node,
                    f"`{short_name(norm.qualified)}` {relation} has {spatial or 'no'} spatial "
                    f"dimension{'s' if spatial != 1 else ''}: it fails on that rank (or normalises over the wrong axis) — "
                    f"use `{short_name(wanted)}`",
                    fix_message=f"Use `{short_name(wanted)}`",
                    edits=_rename(norm.node.func, dims),
                )


def _dimensioned_source(value) -> Optional[Tensor]:
    """The nearest producing layer with a known dimensionality, looking through rank-preserving
    operations; None when a reshape, a merge or an unknown operation comes first."""
    current = value
    for _ in range(50):
        if not isinstance(current, Tensor):
            return None
        op = current.module_op
        if op is None:
            return None
        if op.kind in ("affine", "norm", "pool") and op.dims is not None:
            return current
        if op.kind not in _RANK_PRESERVING or not current.inputs:
            return None
        current = current.inputs[0]
    return None


def _dimensioned_consumer(graph, norm_application: Tensor) -> Optional[Tensor]:
    """The first layer with spatial dimensions that the norm's output reaches through
    rank-preserving operations, when it goes nowhere else (an input normaliser ``BatchNorm2d``
    in front of a ``Conv3d``); None otherwise (a ``Linear`` takes any rank)."""
    current = norm_application
    for _ in range(50):
        consumers = graph.consumers.get(id(current), [])
        if len(consumers) != 1:
            return None
        current = consumers[0]
        op = current.module_op
        if op is None:
            return None
        if op.kind in ("affine", "pool") and op.spatial_dims:
            return current
        if op.kind not in _RANK_PRESERVING:
            return None
    return None


def _rename(func, dims: int) -> tuple[TextEdit, ...]:
    import libcst as cst

    if isinstance(func, cst.Attribute) and func.attr.value[-2:] in ("1d", "2d", "3d"):
        return (TextEdit(func.attr, func.attr.value[:-2] + f"{dims}d"),)
    return ()
