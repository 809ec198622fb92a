from __future__ import annotations

from typing import Any, Iterator

from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics


class GroupsIndivisible(Rule):
    """
    ## What it does
    Flags a grouped convolution (`Conv1d/2d/3d`, `ConvTranspose*`, `LazyConv*` with
    `groups > 1`) whose `in_channels` or `out_channels` is not divisible by `groups`. The
    values are folded from literals, module-level constants (`WIDTH = 96`, `WIDTH // 4`), the
    defaults of the enclosing model's parameters and the arguments it was built with at a
    call site in the file (`Block(96, groups=5)`); when the offending value comes from a call
    site, the finding is reported at that call.

    Not flagged: channel counts or group counts dllint cannot fold (a config field, a
    parameter without a default).

    ## Why is this bad?
    A group convolution splits the N input channels into M groups of N/M channels, convolves
    each group with its own N_out/M filters, and stacks the results — both
    channel counts must split evenly. PyTorch checks this only when the layer is *built*
    (`ValueError: in_channels must be divisible by groups`), so a bad width in one
    configuration of a model crashes the job at construction time — possibly hours into a
    sweep or after a long data-loading start-up — instead of at review time.

    ## Example
    ```python
    import torch.nn as nn

    conv = nn.Conv2d(96, 96, kernel_size=3, padding=1, groups=5)
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    conv = nn.Conv2d(96, 96, kernel_size=3, padding=1, groups=4)
    ```

    ## References
    - [PyTorch: torch.nn.Conv2d](https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html) ("in_channels and out_channels must both be divisible by groups")
    - Xie, Girshick, Dollár, Tu & He, [Aggregated Residual Transformations for Deep Neural Networks](https://arxiv.org/abs/1611.05431), CVPR 2017 (grouped convolutions)
    """

    code = "DL204"
    name = "groups-indivisible"
    summary = "Grouped convolution whose channels are not divisible by groups"

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for layer in sem.layers:
            if layer.op.family not in ("conv", "conv_transpose"):
                continue
            groups = layer.arg("groups", 1)
            if not _is_int(groups) or groups <= 1:
                continue
            bad = [
                (name, value)
                for name in ("in_channels", "out_channels")
                for value in (layer.arg(name),)
                if _is_int(value) and value % groups != 0
            ]
            if not bad:
                continue
            node, where = layer.report_site("groups", *(name for name, _ in bad))
            if id(node) in reported:
                continue
            reported.add(id(node))
            described = " and ".join(f"`{name}={value}`" for name, value in bad)
            yield Report(
                node,
                f"{described} is not divisible by `groups={groups}`{where}: PyTorch refuses to build this "
                "convolution (each group needs the same number of channels) — change the width or the group count",
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
