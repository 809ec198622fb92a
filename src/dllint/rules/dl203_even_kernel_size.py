from __future__ import annotations

import re
from typing import Any, Iterator, Optional

from dllint.rules.base import Report, Rule
from dllint.semantics import (
    UNKNOWN,
    FileSemantics,
    Instance,
    Layer,
    Tensor,
    as_int_tuple,
)
from dllint.semantics.constants import per_dimension

_TRIM_NAMES = re.compile(r"chomp|trim|crop|causal", re.I)


class EvenKernelSize(Rule):
    """
    ## What it does
    Flags a stride-1 `Conv1d`/`Conv2d`/`Conv3d` with an even kernel size whose padding shows
    that a same-size output was intended: `padding=k // 2` (or any nonzero padding of that
    size) or `padding="same"`. The effective size with dilation counts (`dilation * (k - 1) +
    1`). Where the kernel size is a constructor parameter of a model class, the values passed
    at the call sites in the file are checked, and the finding is reported at the call site.

    Not flagged: transposed convolutions; stride ≥ 2 (DCGAN/PatchGAN `k=4, s=2, p=1`, ViT's
    `k=s` patchify); `padding=0` "valid" convolutions (TextCNN's n-gram filters); kernel 1;
    an explicit asymmetric pad (`nn.ZeroPad2d`, `F.pad`) right before the convolution; causal
    pad-and-trim convolutions (TCN), whose output is cropped right after.

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
    A kernel of odd size k has a centre, and `padding=(k - 1) / 2` pads both sides equally, so
    the output has the input's size and each output pixel is centred on its input pixel
    (Dumoulin & Visin, 2016, §2). With an even k there is no centre and no symmetric padding: `padding=k // 2`
    makes the output one pixel *larger* than the input (so later shapes are off by one, or a
    skip connection fails to add), and `padding="same"` makes PyTorch pad one side more than
    the other, shifting every feature map by half a pixel per layer.

    ## Example
    ```python
    import torch.nn as nn

    conv = nn.Conv2d(64, 64, kernel_size=4, padding=2)
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    conv = nn.Conv2d(64, 64, kernel_size=3, padding=1)
    ```

    ## References
    - Dumoulin & Visin, [A guide to convolution arithmetic for deep learning](https://arxiv.org/abs/1603.07285), 2016 (§2: padding, output sizes)
    - [PyTorch: torch.nn.Conv2d](https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html) (`padding='same'`, output shape)
    """

    code = "DL203"
    name = "even-kernel-size"
    summary = "Even convolution kernel with same-size padding"
    judges_architecture = True

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for layer in sem.layers:
            if layer.op.family != "conv":
                continue
            verdict = _even_same_padding(layer)
            if verdict is None or _padded_or_trimmed(sem, layer):
                continue
            node, where = layer.report_site("kernel_size")
            if id(node) in reported:
                continue
            reported.add(id(node))
            yield Report(node, verdict + where)


def _even_same_padding(layer: Layer) -> Optional[str]:
    kernel = as_int_tuple(layer.arg("kernel_size"))
    stride = as_int_tuple(layer.arg("stride", 1))
    dilation = as_int_tuple(layer.arg("dilation", 1))
    padding = layer.arg("padding", 0)
    if kernel is None or stride is None or dilation is None or padding is UNKNOWN:
        return None
    dims = layer.op.dims or len(kernel)
    kernel, stride, dilation = (per_dimension(v, dims) for v in (kernel, stride, dilation))
    if kernel is None or stride is None or dilation is None or any(s != 1 for s in stride):
        return None
    effective = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if not any(e % 2 == 0 for e in effective):
        return None
    shown = kernel[0] if len(set(kernel)) == 1 else tuple(kernel)
    if isinstance(padding, str):
        if padding != "same":
            return None
        return (
            f"kernel size {shown} is even, so `padding='same'` pads one side more than the other and shifts "
            "the feature map by half a pixel: use an odd kernel size"
        )
    pads = per_dimension(as_int_tuple(padding), dims)
    if pads is None:
        return None
    same_intent = [
        e % 2 == 0 and 0 < p <= e // 2 and p in (e // 2, e // 2 - 1) and not (p == e - 1 and e > 2)
        for e, p in zip(effective, pads)
    ]
    if not any(same_intent):
        return None
    return (
        f"kernel size {shown} is even with padding {padding!r} at stride 1: there is no centre pixel and no "
        "symmetric padding, so the output is not the input's size (off by one) — use an odd kernel size"
    )


def _padded_or_trimmed(sem: FileSemantics, layer: Layer) -> bool:
    """An explicit pad right before the convolution, or a crop right after it."""
    for graph in sem.all_graphs():
        for tensor, applied in graph.module_applications():
            if applied is not layer:
                continue
            source = tensor.inputs[0] if tensor.inputs else None
            if isinstance(source, Tensor) and source.module_op is not None and source.module_op.kind == "pad":
                return True
            for consumer in graph.consumers.get(id(tensor), ()):
                if consumer.kind == "subscript" or _is_trim(consumer):
                    return True
    return False


def _is_trim(tensor: Tensor) -> bool:
    target: Any = tensor.target
    if isinstance(target, Instance):
        name = target.qualified or ""
        return bool(_TRIM_NAMES.search(name.rsplit(".", 1)[-1]))
    return False
