from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from dllint.findings import SAFE, UNSAFE
from dllint.rules.base import Report, Rule, TextEdit
from dllint.semantics import FileSemantics, Layer, Tensor, options_of, short_name
from dllint.semantics.inits import written
from dllint.semantics.modes import submodules
from dllint.semantics.occurrences import Occurrences

_BIASED = ("linear", "conv", "conv_transpose")


class BiasBeforeBatchNorm(Rule):
    """
    ## What it does
    Flags a `Linear`/`Conv*`/`ConvTranspose*` layer that keeps its bias (`bias=True` is the
    default!) and whose output goes straight into a `BatchNorm` layer — found in an
    `nn.Sequential` and through `forward`'s dataflow (`self.bn1(self.conv1(x))`, or via local
    variables), including across submodules. The fix sets `bias=False`.

    Not flagged: an activation or anything else between the two layers; `LayerNorm`,
    `GroupNorm` and other norms; a bias chosen by a wrapper or a variable (`bias=use_bias`,
    `bias='auto'`); a bias that is frozen (`requires_grad = False` on it, or on every parameter
    of the model in a loop that always runs: a perceptual loss's feature extractor); a layer
    that keeps its bias only in the defaults of a helper class that its file always builds
    with the bias turned off (`DepthWiseConv2d(..., bias=False)`), when no other file of the
    run imports the class.

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
    Batch normalisation subtracts the per-channel mean over the batch, so a constant added to
    every output of a channel — the bias — is removed again, and BatchNorm's own shift (β)
    plays the role the bias would have had (Ioffe & Szegedy, 2015, §3.2: normalise, then scale
    by γ and shift by β). The bias is dead weight: parameters and optimizer state that receive a gradient of
    zero on average and only add noise, plus a wasted memory read per layer.

    ## Example
    ```python
    import torch.nn as nn

    block = nn.Sequential(
        nn.Conv2d(64, 128, kernel_size=3, padding=1),
        nn.BatchNorm2d(128),
        nn.ReLU(inplace=True),
    )
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    block = nn.Sequential(
        nn.Conv2d(64, 128, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(128),
        nn.ReLU(inplace=True),
    )
    ```

    ## Fix safety
    The fix sets `bias=False`. It is safe — the BatchNorm cancels the bias, so the model
    computes the same function — unless other code uses the bias as a tensor: an init loop of
    the file that writes `m.bias` with no `is not None` check, or a function of another file
    given the model (an `initialize_weights(model)` helper that zeroes every bias). There the fix
    is unsafe (`--unsafe-fixes`): that code must learn that the bias may be `None`. The fix is not
    offered when the line also builds layers that do not feed BatchNorm.

    ## References
    - Ioffe & Szegedy, [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167), ICML 2015, §3.2 (the bias is cancelled by the mean subtraction; β takes its role)
    - [PyTorch: torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
    - [PyTorch performance tuning guide: disable bias for convolutions directly followed by a batch norm](https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html)
    """

    code = "DL301"
    name = "bias-before-batchnorm"
    summary = "Bias of a layer that feeds BatchNorm directly"
    judges_architecture = True
    fixable = True
    fix_applicability = (SAFE, UNSAFE)

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        frozen = sem.frozen_parameters
        occurrences = Occurrences(sem)
        norms: dict[int, Layer] = {}
        for graph in sem.all_graphs():
            for tensor, norm in graph.module_applications():
                if norm.op.kind != "norm" or norm.op.family != "batch" or not tensor.inputs:
                    continue
                source = tensor.inputs[0]
                if not isinstance(source, Tensor) or source.kind != "module" or not isinstance(source.target, Layer):
                    continue
                layer = source.target
                if layer.op.kind != "affine" or layer.op.family not in _BIASED or layer.arg("bias", True) is not True:
                    continue
                if (id(layer), "bias") in frozen or _used_elsewhere(graph, source, tensor):
                    continue
                occurrences.flag(layer, graph)
                norms.setdefault(id(layer.node), norm)
        touched = _bias_touched_elsewhere(sem)
        for occurrence in occurrences:
            layer, norm = occurrence.layer, norms[id(occurrence.layer.node)]
            # With no bias, code that writes it (``m.bias.data.zero_()`` in an init loop with no
            # ``is not None`` check) or a helper of another file given the model would fail.
            applicability = UNSAFE if id(layer.node) in touched else SAFE
            yield Report(
                layer.node,
                f"`{short_name(layer.qualified)}` feeds `{short_name(norm.qualified)}` directly but keeps its bias: "
                "BatchNorm subtracts the batch mean, which cancels the bias (and its β already shifts the "
                f"output) — pass `bias=False`{occurrence.note()}",
                fix_message="Pass `bias=False`" if occurrence.everywhere else None,
                edits=_bias_false(layer) if occurrence.everywhere else (),
                applicability=applicability,
                unless=occurrence.unless,
            )


def _bias_touched_elsewhere(sem: FileSemantics) -> set[int]:
    """Layer constructor calls (by id) whose layers' ``bias`` some code uses as a tensor without
    checking it exists — an init write in this file not guarded by a ``bias`` test — or whose
    model is handed to a function of another file (an ``initialize_weights(self)`` there)."""
    touched: set[int] = set()
    for write in sem.init_writes:
        if any("bias" in _code(test) for test, _ in write.site.guards):
            continue
        for target in written(sem, write):
            layer = target.layer
            if layer is not None and target.parameter == "bias":
                touched.add(id(layer.node))
    for call in sem.evaluator.external_calls:
        for value in (*call.args, *call.kwargs.values()):
            for option in options_of(value):
                if isinstance(option, Layer):
                    touched.add(id(option.node))
                touched.update(id(held.node) for held in submodules(option) if isinstance(held, Layer))
    return touched


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _used_elsewhere(graph, output: Tensor, norm_application: Tensor) -> bool:
    """Whether the layer's output also goes somewhere other than the BatchNorm (returned, fed to
    another layer or loss): there the bias still matters."""
    if any(output is returned for returned in graph.returned_values()):
        return True
    return any(consumer is not norm_application for consumer in graph.consumers.get(id(output), ()))


def _bias_false(layer: Layer) -> tuple[TextEdit, ...]:
    call = layer.node
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == "bias":
            return (TextEdit(arg.value, "False"),)
    if "bias" in layer.args:  # passed positionally
        return (TextEdit(layer.args["bias"], "False"),)
    if _last_plain_argument(call) is None:
        return ()
    return (TextEdit(call, cst.Module(body=[]).code_for_node(_with_keyword(call, "bias", "False"))),)


def _with_keyword(call: cst.Call, keyword: str, value: str) -> cst.Call:
    """``call`` with ``keyword=value`` appended, laid out like its other arguments (on its own
    line when the call puts one argument per line)."""
    args = list(call.args)
    last = args[-1]
    new = cst.Arg(
        value=cst.parse_expression(value),
        keyword=cst.Name(keyword),
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    if isinstance(last.comma, cst.Comma):  # a trailing comma: the new argument takes over its layout
        separator = args[-2].comma if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) else cst.Comma(
            whitespace_after=cst.SimpleWhitespace(" ")
        )
        args[-1] = last.with_changes(comma=separator)
        new = new.with_changes(comma=last.comma)
    else:
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return call.with_changes(args=[*args, new])


def _last_plain_argument(call: cst.Call) -> Optional[cst.Arg]:
    if not call.args or any(arg.star for arg in call.args):
        return None
    return call.args[-1]

