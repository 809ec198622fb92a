from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics, Layer, Tensor, describe, fold, short_name
from dllint.semantics.syntax import bind_arguments
from dllint.semantics.usage import evaluated

# Operations without weights that keep feeding the same values on: the dropout's variance
# reaches the BatchNorm through them.
_THROUGH = ("activation", "identity", "reshape", "pad", "pool")


class DropoutBeforeBatchNorm(Rule):
    """
    ## What it does
    Flags a dropout (`nn.Dropout`, `nn.Dropout1d/2d/3d`, `F.dropout` …) whose output goes into
    a `BatchNorm` layer with no layer with weights between them — in an `nn.Sequential` or
    through `forward`'s dataflow, looking through activations, reshapes, padding, pooling and
    `nn.Identity`.

    Not flagged: dropout after the BatchNorm or after the activation that follows it (the
    usual `Conv → BN → ReLU → Dropout` order); dropout whose output reaches a BatchNorm only
    through another layer with weights; `AlphaDropout` (it keeps the mean and variance by
    design); dropout with `p=0`; `LayerNorm`/`GroupNorm` after dropout (they normalise each
    sample with its own statistics, at training and test time alike); a BatchNorm with
    `track_running_stats=False`, which uses batch statistics at evaluation too.

    Not judged: files that publish trained weights for their models (a Hugging Face
    `PreTrainedModel` family, timm's `@register_model`, torchvision's `WeightsEnum`, weights
    downloaded by URL, a pretrained zoo model's state dict loaded into the file's model,
    checkpoints the file downloads and then loads from the same path or directory:
    `urlretrieve(url, os.path.join(CKPT_DIR, name))` then
    `Model.load_from_checkpoint(os.path.join(CKPT_DIR, name))`):
    the checkpoints fix their architecture, and a change would break
    loading them.

    Not judged either, in a notebook: networks it only demonstrates — builds, prints, runs
    forward, initialises or inspects, but never trains (no optimizer gets their parameters, no
    training loop runs them, they are not saved, and they are not handed to code dllint cannot
    see into, such as a book's training helper). A notebook cannot be imported, so nobody else
    trains them either.

    ## Why is this bad?
    During training, dropout zeroes units and scales the survivors by 1/(1−p): the mean is
    unchanged but the variance of each unit is inflated. BatchNorm right after it learns its
    running variance from these inflated activations (the mean and variance used at test time are
    running averages collected in training; Li et al., 2019, call this the variance shift). At evaluation
    dropout is off, the variance is smaller, and BatchNorm divides by the wrong statistics:
    every activation after it is shifted and rescaled relative to what the following layers
    were trained on ("variance shift", Li et al. 2019). The usual symptom is a model whose
    eval-mode accuracy is worse than its train-mode accuracy on the same data. Put dropout
    after the BatchNorm (and its activation), or only after the last BatchNorm.

    ## Example
    ```python
    import torch.nn as nn

    block = nn.Sequential(
        nn.Conv2d(64, 64, 3, padding=1, bias=False),
        nn.Dropout2d(0.2),
        nn.BatchNorm2d(64),
        nn.ReLU(),
    )
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    block = nn.Sequential(
        nn.Conv2d(64, 64, 3, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.Dropout2d(0.2),
    )
    ```

    ## References
    - Li, Chen, Hu & Yang, [Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift](https://arxiv.org/abs/1801.05134), CVPR 2019
    - Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, [Dropout: A Simple Way to Prevent Neural Networks from Overfitting](https://jmlr.org/papers/v15/srivastava14a.html), JMLR 2014
    - Ioffe & Szegedy, [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167), ICML 2015
    - [PyTorch: torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html) (running statistics)
    """

    code = "DL302"
    name = "dropout-before-batchnorm"
    summary = "Dropout whose output feeds BatchNorm"
    judges_architecture = True

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for graph in sem.all_graphs():
            for tensor, norm in graph.module_applications():
                if norm.op.kind != "norm" or norm.op.family != "batch" or not tensor.inputs:
                    continue
                if norm.arg("track_running_stats", True) is False:
                    continue  # batch statistics at eval too: nothing learned in training to shift
                dropout = _dropout_feeding(sem, tensor.inputs[0])
                if dropout is None or evaluated(sem, norm) is False:
                    continue  # (a model this file only ever trains never applies the shifted variance)
                node = dropout.target.node if isinstance(dropout.target, Layer) else dropout.node
                if node is None or id(node) in reported:
                    continue
                reported.add(id(node))
                yield Report(
                    node,
                    f"{describe(dropout)} feeds `{short_name(norm.qualified)}`: BatchNorm learns its running variance "
                    "from the dropped-out activations and applies it at eval, when dropout is off (variance shift) — "
                    "move the dropout after the BatchNorm and its activation",
                )


def _dropout_feeding(sem: FileSemantics, value) -> Optional[Tensor]:
    current = value
    for _ in range(50):
        if not isinstance(current, Tensor):
            return None
        op = current.module_op
        if op is None:
            return None
        if op.kind == "dropout":
            return current if op.family != "alpha" and not _zero_p(sem, current) else None
        if op.kind not in _THROUGH or not current.inputs:
            return None
        current = current.inputs[0]
    return None


def _zero_p(sem: FileSemantics, tensor: Tensor) -> bool:
    """Dropout with ``p=0`` (a disabled dropout, e.g. a ``drop_rate=0.`` default)."""
    if isinstance(tensor.target, Layer):
        p = tensor.target.arg("p", 0.5)
    else:
        site = sem.site_of(tensor.node) if isinstance(tensor.node, cst.Call) else None
        if site is None:
            return False
        p = fold(bind_arguments(site.node, ("input", "p")).get("p"), site.scope)
    return isinstance(p, (int, float)) and not isinstance(p, bool) and p == 0
