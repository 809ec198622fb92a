from __future__ import annotations

from typing import Iterator, Optional

from dllint.findings import UNSAFE
from dllint.rules.base import Option, Report, Rule, TextEdit
from dllint.rules.editing import remove_activation, rename_callee
from dllint.semantics import FileSemantics, short_name
from dllint.semantics.losses import describe_origin, loss_inputs
from dllint.semantics.outputs import comes_from, from_parameters


class SigmoidIntoBce(Rule):
    """
    ## What it does
    Flags binary cross-entropy computed on the output of a sigmoid:

    - `nn.BCELoss` / `F.binary_cross_entropy` fed a sigmoid output (`torch.sigmoid(x)`,
      `.sigmoid()`, a model whose last layer is `nn.Sigmoid`): numerically fragile — use
      `nn.BCEWithLogitsLoss` on the logits instead;
    - `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` fed a sigmoid output: the
      loss applies a sigmoid itself, so the model's scores go through two sigmoids.

    The value is followed like DL401 follows it: through variables, reshapes, indexing,
    clamping (`probs.clamp(eps, 1 - eps)` is still a sigmoid output), same-file helpers,
    criterion objects in variables or attributes, model classes of other files of the run,
    the elements of a model's output record (`out["prob"]`, `out.logits`, `prob, aux = model(x)`),
    and a model restored with `torch.load(path)` from the pickle the file writes with
    `torch.save(model, path)` (`try: decoder = torch.load(path)` is still that decoder).

    Not flagged: `BCELoss` on probabilities that do not come from a sigmoid in the same model or
    file (a softmax column, a model loaded from a checkpoint the file does not write, an average
    of probabilities); a
    sigmoid used only for metrics or thresholding while the loss gets the logits (also a model that
    returns both, `{"logits": z, "probs": z.sigmoid()}`, with the logits going to the loss); a
    model that applies the sigmoid only in eval mode.

    ## Why is this bad?
    The sigmoid is the two-class case of the softmax and squashes a score into (0, 1). Binary
    cross-entropy then takes `log(p)` and `log(1 - p)`. Done as two separate steps, a confident score makes the sigmoid round to exactly 1 in float32 (from
    x ≈ 17 on), so a wrong label gives `log(1 - p) = log(0) = −∞`, which PyTorch's `BCELoss` has
    to clamp at −100: the loss stops growing and the gradient through the saturated sigmoid is
    ~0, just where the model most needs correcting. `BCEWithLogitsLoss` computes the same
    quantity from the logits with the log-sum-exp trick — exact and stable for any score — and,
    unlike `BCELoss`, it is allowed in CUDA mixed-precision autocast regions (`BCELoss` raises an
    error there, because its gradients are not representable in float16).

    Feeding a sigmoid output to `BCEWithLogitsLoss` is a plain bug: the loss computes
    `sigmoid(sigmoid(x))`, which lies in (0.5, 0.73): the predicted probability can never drop
    below one half, the loss for negative examples never approaches 0, and the model cannot learn
    the task.

    ## Example
    ```python
    import torch
    import torch.nn as nn

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1), nn.Sigmoid())

        def forward(self, x):
            return self.net(x)

    def train_step(disc, real, optimizer):
        criterion = nn.BCELoss()
        loss = criterion(disc(real), torch.ones(real.size(0), 1))
        loss.backward()
        optimizer.step()

    train_step(Discriminator(), real_batch, optimizer)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(784, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

        def forward(self, x):
            return self.net(x)  # logits; torch.sigmoid(...) where a probability is needed

    def train_step(disc, real, optimizer):
        criterion = nn.BCEWithLogitsLoss()
        loss = criterion(disc(real), torch.ones(real.size(0), 1))
        loss.backward()
        optimizer.step()

    train_step(Discriminator(), real_batch, optimizer)
    ```

    ## Options
    - `bce-on-sigmoid` (bool, default true): flag `BCELoss` fed a sigmoid output. Code bases
      that keep `Sigmoid` + `BCELoss` on purpose (classic GAN code, models exported with their
      probability head) can set it to false and keep only the double-sigmoid check, which is
      always a bug.

    ## Fix safety
    With `--unsafe-fixes`: for `BCEWithLogitsLoss`, the fix removes the extra sigmoid — where it
    is written in the loss call, or where it is the model's last operation and the model's
    output goes only to such losses (the conditions of DL401's fix). For `BCELoss`, it removes
    the sigmoid the same way *and* switches every loss its output reaches to the with-logits
    version with the same arguments (`nn.BCELoss` → `nn.BCEWithLogitsLoss`,
    `F.binary_cross_entropy` → `F.binary_cross_entropy_with_logits`; a `from torch.nn import
    BCELoss` gets `BCEWithLogitsLoss` added): only when the sigmoid and the losses are both in
    the file, the sigmoid's output has no other use (no thresholding, no metric), and each
    criterion object switched computes no other loss. It is unsafe because the model then
    returns logits, not probabilities: apply `torch.sigmoid` where a probability is needed.

    ## References
    - [PyTorch: torch.nn.BCEWithLogitsLoss](https://pytorch.org/docs/stable/generated/torch.nn.BCEWithLogitsLoss.html) ("more numerically stable than using a plain Sigmoid followed by a BCELoss")
    - [PyTorch: torch.nn.BCELoss](https://pytorch.org/docs/stable/generated/torch.nn.BCELoss.html) (log outputs clamped at -100)
    - [PyTorch AMP: prefer binary_cross_entropy_with_logits over binary_cross_entropy](https://pytorch.org/docs/stable/amp.html#prefer-binary-cross-entropy-with-logits-over-binary-cross-entropy)
    - Goodfellow, Bengio & Courville, [Deep Learning](https://www.deeplearningbook.org/contents/mlp.html), §6.2.2.2 (sigmoid units for Bernoulli outputs, and why the loss should be computed from the logit)
    """

    code = "DL402"
    name = "sigmoid-into-bce"
    summary = "Sigmoid output passed to BCELoss (unstable) or to BCEWithLogitsLoss (double sigmoid)"
    fixable = True
    fix_applicability = (UNSAFE,)
    options = {
        "bce-on-sigmoid": Option(True, "Flag BCELoss fed a sigmoid output (the double-sigmoid check always runs)"),
    }

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        losses = ("bce_with_logits", "bce") if self.settings["bce-on-sigmoid"] else ("bce_with_logits",)
        for application, origin in loss_inputs(sem, losses, ("sigmoid",)):
            loss = f"`{short_name(application.qualified)}`"
            if origin.deferred:
                source = f"{origin.deferred_output()}, which its forward computes with a sigmoid"
            else:
                source = f"the output of {describe_origin(sem, application, origin)}"
            if application.family == "bce_with_logits":
                message = (
                    f"{loss} applies a sigmoid to its input itself, but this input is already {source}: the loss sees "
                    "sigmoid(sigmoid(x)), which never drops below 0.5 — pass the logits (remove the sigmoid)"
                )
            else:
                message = (
                    f"{loss} is fed {source}: log(sigmoid(x)) computed in two steps saturates (PyTorch clamps it "
                    "at -100, the gradient vanishes) and is refused under CUDA autocast — drop the sigmoid and use "
                    "`nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` on the logits"
                )
            edits, fix_message = _fix(sem, application, origin)
            yield Report(
                application.node,
                message,
                fix_message=fix_message,
                edits=edits,
                applicability=UNSAFE,
                unless=origin.unless(("sigmoid",)) if origin.deferred else None,
            )


_WITH_LOGITS = {
    "torch.nn.BCELoss": "torch.nn.BCEWithLogitsLoss",
    "torch.nn.functional.binary_cross_entropy": "torch.nn.functional.binary_cross_entropy_with_logits",
}


def _fix(sem: FileSemantics, application, origin) -> tuple[tuple[TextEdit, ...], Optional[str]]:
    """Double sigmoid: take the sigmoid out. BCELoss: take it out and switch every loss its
    output reaches to the with-logits version — when all of those losses can be switched
    and each criterion object switched is used by them only."""
    removed = remove_activation(sem, application, origin, (application.family,))
    if removed is None:
        return (), None
    edits, losses = removed
    if application.family == "bce_with_logits":
        return edits, "Remove the sigmoid: the loss applies it itself"
    renames: list[TextEdit] = []
    renamed: set[int] = set()
    for loss in losses:
        for other in sem.loss_applications:
            if other.node is not loss:
                continue
            if not comes_from(other.prediction, origin.tensor) and not from_parameters(other.prediction):
                return (), None  # this loss call also scores other probabilities (a shared helper)
            target = other.criterion.node if other.criterion is not None else other.node
            if id(target) in renamed:
                continue
            if other.criterion is not None and any(
                use.criterion is not None
                and use.criterion.node is target
                and all(use.node is not loss_call for loss_call in losses)
                for use in sem.loss_applications
            ):
                return (), None  # the criterion object also computes losses the fix does not touch
            rename = rename_callee(sem, target, other.qualified, _WITH_LOGITS.get(other.qualified, ""))
            if rename is None:
                return (), None
            renamed.add(id(target))
            renames.extend(rename)
    return (*edits, *renames), "Remove the sigmoid and use `BCEWithLogitsLoss` on the logits"
