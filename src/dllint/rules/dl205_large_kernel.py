from __future__ import annotations

import math
import re
from typing import Any, Iterator, Optional

from dllint.rules.base import Option, Report, Rule
from dllint.semantics import (
    UNKNOWN,
    FileSemantics,
    Layer,
    as_int_tuple,
)
from dllint.semantics.constants import per_dimension
from dllint.semantics.syntax import dotted_name

# A layer that reads or writes an image or a mask (RGB, RGBA, grayscale, a few classes):
# stacking 3x3 convolutions there would need full-width intermediate layers, so a single
# large kernel is the cheap choice (a stem, a "to RGB" output layer).
_IMAGE_CHANNELS = 4
# A channel count dllint cannot fold, named like the channels of an image (Hugging Face's
# ``config.num_channels``, timm's ``in_chans``, pix2pix's ``input_nc``).
_IMAGE_CHANNEL_NAME = re.compile(
    r"(^|[._])(num_channels|input_channels|in_chans|out_chans|img_channels|image_channels|n_channels|"
    r"input_nc|output_nc|num_channels_out|channels_img)$"
)


class LargeKernel(Rule):
    """
    ## What it does
    Flags a stride-1 `Conv2d`/`Conv3d` with a kernel of `min-kernel` (default 5) or more
    whose receptive field a stack of 3×3 (3×3×3) convolutions covers with fewer weights — a
    5×5 (25 weights per channel pair) against two 3×3 (18), a 7×7 (49) against three 3×3 (27).
    Off by default: large kernels are a legitimate design choice often enough that this is
    advice, not a bug.

    Not flagged: depthwise and other grouped convolutions (`groups > 1`; large depthwise
    kernels are a deliberate modern design — ConvNeXt, RepLKNet); strided convolutions (a
    `7×7, stride 2` stem downsamples); dilated convolutions; `Conv1d` — in one dimension a
    stack of size-3 kernels has *more* weights than the single kernel it replaces (two of
    them: 6 against 5), so the argument does not hold; kernels like 1×7 or 5×3 for the same
    reason; convolutions that read or write an image or mask (`in_channels` or `out_channels`
    ≤ 4, or named like an image's channel count: `config.num_channels`, `in_chans`,
    `input_nc`), where the stack would need full-width intermediate layers (a stem, a
    "to RGB" output layer); transposed convolutions.

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
    Two stacked 3×3 convolutions see a 5×5 window, and three see a 7×7 one (Simonyan &
    Zisserman, 2015, §2.3; Szegedy et al., 2016, §3.1): the same receptive field with fewer parameters and less compute
    (2·9 = 18 against 25, 3·9 = 27 against 49 weights per input/output channel pair), and with
    an activation between the small convolutions the block is also deeper and more
    non-linear. A single large stride-1 kernel in the body of a network usually spends
    parameters and FLOPs that a 3×3 stack would put to better use.

    ## Example
    ```python
    import torch.nn as nn

    block = nn.Sequential(nn.Conv2d(64, 64, kernel_size=5, padding=2), nn.ReLU())
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    block = nn.Sequential(
        nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, kernel_size=3, padding=1), nn.ReLU(),
    )
    ```

    ## Options
    - `min-kernel` (int, default 5): the smallest kernel size flagged. Set it to 7 to flag
      only the largest kernels.

    ## References
    - Simonyan & Zisserman, [Very Deep Convolutional Networks for Large-Scale Image Recognition](https://arxiv.org/abs/1409.1556), ICLR 2015, §2.3
    - Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, [Rethinking the Inception Architecture for Computer Vision](https://arxiv.org/abs/1512.00567), CVPR 2016, §3.1
    - [PyTorch: torch.nn.Conv2d](https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html)
    """

    code = "DL205"
    name = "large-kernel"
    summary = "Large stride-1 convolution kernel that stacked 3x3 convolutions could replace"
    judges_architecture = True
    default_enabled = False
    options = {
        "min-kernel": Option(5, "Smallest kernel size that is flagged", minimum=1),
    }

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        reported: set[int] = set()
        for layer in sem.layers:
            if layer.op.family != "conv" or (layer.op.dims or 0) < 2:
                continue
            verdict = _replaceable(layer, self.settings["min-kernel"])
            if verdict is None:
                continue
            node, where = layer.report_site("kernel_size")
            if id(node) in reported:
                continue
            reported.add(id(node))
            yield Report(node, verdict + where)


def _replaceable(layer: Layer, min_kernel: int) -> Optional[str]:
    dims = layer.op.dims or 2
    kernel = per_dimension(as_int_tuple(layer.arg("kernel_size")), dims)
    stride = per_dimension(as_int_tuple(layer.arg("stride", 1)), dims)
    dilation = per_dimension(as_int_tuple(layer.arg("dilation", 1)), dims)
    groups = layer.arg("groups", 1)
    if kernel is None or stride is None or dilation is None or groups != 1 or isinstance(groups, bool):
        return None
    if any(s != 1 for s in stride) or any(d != 1 for d in dilation) or max(kernel) < min_kernel:
        return None
    for name in ("in_channels", "out_channels"):
        channels = layer.arg(name)
        if _is_int(channels) and channels <= _IMAGE_CHANNELS:
            return None
        expr = dotted_name(layer.args[name]) if name in layer.args else None
        if not _is_int(channels) and expr and _IMAGE_CHANNEL_NAME.search(expr):
            return None
    single = math.prod(kernel)
    small = [min(k, 3) for k in kernel]
    layers = math.ceil((max(kernel) - 1) / 2)
    stacked = layers * math.prod(small)
    if stacked >= single:
        return None
    shape = "×".join(str(k) for k in kernel)
    small_shape = "×".join(str(k) for k in small)
    return (
        f"a {shape} convolution at stride 1 has {single} weights per channel pair; {layers} stacked {small_shape} "
        f"convolutions see the same {shape} window with {stacked} and add non-linearities between them — "
        "use a stack of small kernels"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value is not UNKNOWN
