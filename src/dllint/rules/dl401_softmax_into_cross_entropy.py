from __future__ import annotations

from typing import Iterator

from dllint.findings import UNSAFE
from dllint.rules.base import Report, Rule
from dllint.rules.editing import remove_activation
from dllint.semantics import FileSemantics, short_name
from dllint.semantics.losses import describe_origin, loss_inputs


class SoftmaxIntoCrossEntropy(Rule):
    """
    ## What it does
    Flags `nn.CrossEntropyLoss` / `F.cross_entropy` whose input (the prediction, not the
    target) is already the output of a softmax: `F.softmax(logits, dim=1)` passed in, or a
    model whose last layer is `nn.Softmax` (or whose `forward` returns `torch.softmax(...)`)
    called and fed to the loss. The value is followed through local variables, reshapes
    (`.view(-1, C)`), dropout, indexing, same-file helpers, criterion objects held in variables
    or attributes (`self.criterion`), model classes defined in other files of the run, and the
    elements of a model's output when it returns several things (a dict, a tuple, a
    `NamedTuple`, a dataclass or a `ModelOutput`: `out["probs"]`, `out.logits`, `probs, logits =
    model(x)`), each element judged on its own.

    Not flagged: a softmax used only for metrics, printing or `argmax` while the loss gets the
    logits; a model that returns logits in training and probabilities in eval
    (`return x if self.training else x.softmax(-1)`); softmax probabilities passed as the
    *target* (soft labels, knowledge distillation); `KLDivLoss` and other losses.

    ## Why is this bad?
    Softmax turns scores into probabilities (non-negative, summing to 1), and cross-entropy
    compares the predicted distribution with the label. PyTorch's cross-entropy *starts* with `log_softmax` of its input:
    it expects unnormalised logits. Given probabilities in [0, 1] instead, it applies softmax
    a second time to values that differ by at most 1, so the distribution it scores is nearly
    uniform: the loss can never get close to 0 (with 10 classes it cannot drop below ≈ 1.46),
    its gradients are squashed by the first softmax's derivative and vanish as soon as that
    softmax saturates, and training stalls at a mediocre accuracy with no error anywhere.

    ## Example
    ```python
    import torch.nn as nn

    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10), nn.Softmax(dim=1))
    criterion = nn.CrossEntropyLoss()
    for images, labels in loader:
        loss = criterion(model(images), labels)
        loss.backward()
    ```

    ## Use instead
    ```python
    import torch.nn as nn
    import torch.nn.functional as F

    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    criterion = nn.CrossEntropyLoss()
    for images, labels in loader:
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        probabilities = F.softmax(logits, dim=1)  # for metrics only
    ```

    ## Fix safety
    The fix (`--unsafe-fixes`) removes the softmax: where it is written in the loss call
    (`criterion(F.softmax(z, dim=1), y)` → `criterion(z, y)`), or where it is the model's last
    operation — the last layer of an `nn.Sequential`, or what a `forward` returns — and the
    model's output goes to cross-entropy losses only: each call of the model is passed straight
    to such a loss or stored in a name used only that way, nothing else in the model uses the
    softmax's output, and the model is not handed to code outside the file (a trainer, a
    library). Otherwise there is no fix: probabilities also used for metrics or predictions, a
    softmax stored in a variable first, a model given to `trainer.fit`. It is unsafe because the
    model then returns logits instead of probabilities, which other files that import it may rely
    on; apply softmax where probabilities are needed.

    ## References
    - [PyTorch: torch.nn.CrossEntropyLoss](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html) ("The input is expected to contain the unnormalized logits for each class")
    - [PyTorch: torch.nn.functional.cross_entropy](https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html)
    - [PyTorch: torch.nn.Softmax](https://pytorch.org/docs/stable/generated/torch.nn.Softmax.html)
    - Goodfellow, Bengio & Courville, [Deep Learning](https://www.deeplearningbook.org/contents/mlp.html), §6.2.2.3 (softmax units and the log-likelihood cost)
    """

    code = "DL401"
    name = "softmax-into-cross-entropy"
    summary = "Softmax output passed to a cross-entropy loss, which applies log-softmax itself"
    fixable = True
    fix_applicability = (UNSAFE,)

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        for application, origin in loss_inputs(sem, ("cross_entropy",), ("softmax",)):
            loss = f"`{short_name(application.qualified)}`"
            if origin.deferred:
                source = f"{origin.deferred_output()}, which its forward computes with a softmax"
            else:
                source = f"already the output of {describe_origin(sem, application, origin)}"
            fix = remove_activation(sem, application, origin, ("cross_entropy",))
            yield Report(
                application.node,
                f"{loss} applies log-softmax to its input itself, but this input is {source}: the loss scores "
                "probabilities as if they were logits, so it cannot approach 0 and its gradients vanish — pass the "
                "logits and apply softmax only where probabilities are needed (metrics, inference)",
                fix_message="Remove the softmax: pass the logits to the loss" if fix else None,
                edits=fix[0] if fix else (),
                applicability=UNSAFE,
                unless=origin.unless(("softmax",)) if origin.deferred else None,
            )
