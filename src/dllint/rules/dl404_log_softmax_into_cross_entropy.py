from __future__ import annotations

from typing import Iterator

from dllint.findings import UNSAFE
from dllint.project import LOGITS
from dllint.rules.base import Option, Report, Rule
from dllint.rules.editing import remove_activation
from dllint.semantics import FileSemantics, short_name
from dllint.semantics.losses import describe_origin, loss_inputs


class LogSoftmaxIntoCrossEntropy(Rule):
    """
    ## What it does
    Flags a mismatch between the loss and the output layer around log-softmax:

    - `nn.CrossEntropyLoss` / `F.cross_entropy` fed the output of `log_softmax` (`F.log_softmax`,
      `nn.LogSoftmax` as a model's last layer, `.log_softmax()`, or `torch.log(softmax(x))`):
      the loss applies log-softmax again;
    - `nn.NLLLoss` / `F.nll_loss` fed something that is not log-probabilities: raw logits (the
      output of a `Linear`/conv layer or a matrix product, or a model whose `forward` returns
      one) or softmax probabilities with no log.

    Values are followed like DL401 follows them (variables, reshapes, indexing, helpers,
    criterion objects, model classes of other files of the run, elements of a model's output).

    Not flagged: `log_softmax` → `NLLLoss` (the intended pairing, as in PyTorch's MNIST
    example); `torch.log(softmax(x))` → `NLLLoss` (log-probabilities, if less precise ones);
    an `NLLLoss` input whose origin is unknown or differs between branches; `KLDivLoss` on
    `log_softmax` (its expected input).

    ## Why is this bad?
    Multi-class classification trains with cross-entropy between the softmax of the scores and
    the label. PyTorch splits that in two ways that must not
    be mixed: `CrossEntropyLoss` = `log_softmax` + `NLLLoss` on **logits**, and `NLLLoss` alone
    on **log-probabilities** — all `NLLLoss` does is pick `-input[target]`.

    - `NLLLoss` on raw logits has no normalisation at all: the loss is `-logit[target]`, which
      the model lowers without limit by inflating the target logit, while the other classes get
      no gradient. The loss goes negative and diverges; the model learns nothing useful.
    - `NLLLoss` on softmax probabilities scores `-p[target]`, which lives in [-1, 0] and is not a
      likelihood: gradients are tiny for confident mistakes, exactly where they should be large.
    - `log_softmax` before `CrossEntropyLoss` is redundant rather than wrong: log-softmax is
      idempotent, so loss and gradients come out the same (up to rounding). It costs an extra
      pass over the (batch × classes) tensor, and it shows the author believes the loss wants
      log-probabilities — code and checkpoints built on that belief (a head that returns
      log-probabilities, an `exp` at inference) tend to drift into the two real bugs above.
      `torch.log(softmax(x))` into the loss is worse: a softmax that underflows to 0 gives
      `log(0) = -inf` and a NaN loss.

    ## Example
    ```python
    import torch.nn as nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(self.fc1(x).relu())

    model = Classifier()
    criterion = nn.NLLLoss()
    for images, labels in loader:
        loss = criterion(model(images), labels)
        loss.backward()
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return F.log_softmax(self.fc2(self.fc1(x).relu()), dim=1)

    model = Classifier()
    criterion = nn.NLLLoss()
    for images, labels in loader:
        loss = criterion(model(images), labels)
        loss.backward()
    ```

    ## Options
    - `double-log-softmax` (bool, default true): flag `log_softmax` fed to `CrossEntropyLoss`.
      Since the result is numerically the same, a code base may accept it (a model that returns
      log-probabilities for other consumers) and set this to false; the `NLLLoss` checks, which
      are real bugs, always run.

    ## Fix safety
    For `log_softmax` (or `log(softmax(x))`) fed to a cross-entropy loss, the fix
    (`--unsafe-fixes`) removes it under the same conditions as DL401's fix: written in the loss
    call, or the model's last operation (the last layer of an `nn.Sequential`, what a `forward`
    returns) when the model's output goes to cross-entropy losses only and the model is not
    handed to code outside the file. No fix where the log-probabilities are also used elsewhere
    (an `NLLLoss`, a beam search), and none for the `NLLLoss` findings. Unsafe: the model then
    returns logits, not log-probabilities.

    ## References
    - [PyTorch: torch.nn.CrossEntropyLoss](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html) ("equivalent to applying LogSoftmax on an input, followed by NLLLoss")
    - [PyTorch: torch.nn.NLLLoss](https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html) ("The input given through a forward call is expected to contain log-probabilities")
    - [PyTorch: torch.nn.functional.log_softmax](https://pytorch.org/docs/stable/generated/torch.nn.functional.log_softmax.html)
    - Goodfellow, Bengio & Courville, [Deep Learning](https://www.deeplearningbook.org/contents/mlp.html), §6.2.2.3 (softmax units and the log-likelihood cost)
    """

    code = "DL404"
    name = "log-softmax-into-cross-entropy"
    summary = "Log-softmax fed to CrossEntropyLoss, or NLLLoss fed logits or probabilities"
    fixable = True
    fix_applicability = (UNSAFE,)
    options = {
        "double-log-softmax": Option(True, "Flag log_softmax fed to CrossEntropyLoss (redundant, not wrong)"),
    }

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        if self.settings["double-log-softmax"]:
            for application, origin in loss_inputs(sem, ("cross_entropy",), ("log_softmax",)):
                yield self._double(sem, application, origin)
        for application, origin in loss_inputs(sem, ("nll",), (LOGITS, "softmax")):
            if origin.deferred:
                for family in (LOGITS, "softmax"):
                    yield self._nll(sem, application, origin, family)
            else:
                yield self._nll(sem, application, origin, origin.family)

    def _double(self, sem: FileSemantics, application, origin) -> Report:
        loss = f"`{short_name(application.qualified)}`"
        if origin.spelled == "log(softmax)" and not origin.deferred:
            message = (
                f"{loss} applies log-softmax to its input itself, but this input is `log(softmax(x))`: redundant, and "
                "where the softmax underflows to 0 the log is -inf and the loss NaN — pass the logits"
            )
        else:
            if origin.deferred:
                source = f"{origin.deferred_output()}, which its forward computes with `log_softmax`"
            else:
                source = f"already the output of {describe_origin(sem, application, origin)}"
            message = (
                f"{loss} applies log-softmax to its input itself, but this input is {source}: a second log-softmax is "
                "redundant (it only costs time and hides what the model returns) — pass the logits, or use "
                "`nn.NLLLoss` if the model must return log-probabilities"
            )
        fix = remove_activation(sem, application, origin, ("cross_entropy",))
        return Report(
            application.node,
            message,
            fix_message=f"Remove the {'log(softmax)' if origin.spelled == 'log(softmax)' else 'log-softmax'}: pass the "
            "logits to the loss" if fix else None,
            edits=fix[0] if fix else (),
            applicability=UNSAFE,
            unless=origin.unless(("log_softmax",)) if origin.deferred else None,
        )

    def _nll(self, sem: FileSemantics, application, origin, family: str) -> Report:
        loss = f"`{short_name(application.qualified)}`"
        if origin.deferred:
            ends = "raw logits" if family == LOGITS else "softmax probabilities"
            source = f"{origin.deferred_output()}, which its forward returns as {ends}"
        elif family == LOGITS:
            source = f"raw logits from {describe_origin(sem, application, origin)}"
        else:
            source = f"softmax probabilities from {describe_origin(sem, application, origin)}, not their log"
        if family == LOGITS:
            why = (
                "without a log-softmax the loss is just -logit[target], which falls without bound as the target "
                "logit grows — apply `F.log_softmax(x, dim=1)` first, or use `nn.CrossEntropyLoss` on the logits"
            )
        else:
            why = (
                "the loss becomes -p[target], not a log-likelihood — use `log_softmax` instead of `softmax`, or "
                "`nn.CrossEntropyLoss` on the logits"
            )
        return Report(
            application.node,
            f"{loss} expects log-probabilities, but this input is {source}: {why}",
            unless=origin.unless((family,)) if origin.deferred else None,
        )
