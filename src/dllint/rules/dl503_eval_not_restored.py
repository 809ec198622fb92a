from __future__ import annotations

from typing import Iterator, Optional

from dllint.project import unless_none_hold_or_custom_call
from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics
from dllint.semantics.loops import ancestors, holds
from dllint.semantics.trace import Event
from dllint.semantics.values import Value, options_of


class EvalNotRestored(Rule):
    """
    ## What it does
    Flags a training forward pass that runs in eval mode because a loop put the model in
    eval mode (`model.eval()`, `model.train(False)`, directly or in a validation helper of
    the same file) and never switched it back: the same forward call ran in training mode
    on the first iteration, and a later iteration trains (its output reaches `backward()`)
    after the `.eval()` with no `model.train()` in between.

    Not flagged: `model.train()` at the top of each epoch or inside the training function
    or a helper it calls; models that are deliberately trained in eval mode from the start
    (the call is in eval mode on every iteration, e.g. fine-tuning with frozen BatchNorm
    statistics); `.eval()` on a submodule only (`model.backbone.eval()`); validation that
    happens after the last training step; a Lightning `Trainer`'s validation (it switches the
    module back to training mode).

    ## Why is this bad?
    `model.eval()` switches Dropout off and makes BatchNorm normalise with its running
    statistics instead of the batch's, and it stays that way until `model.train()` is called
    (BN uses batch statistics while training and the running averages at test time: Ioffe &
    Szegedy, 2015). A validation pass at the end of epoch 1 therefore leaves every later epoch
    training without dropout — the regularisation (Srivastava et al., 2014) silently disappears — and with
    frozen BatchNorm statistics that no longer track the changing activations. Nothing
    crashes; the model just overfits or trains worse from the second epoch on.

    ## Example
    ```python
    import torch
    import torch.nn.functional as F


    def evaluate(model, loader):
        model.eval()
        with torch.no_grad():
            return sum(F.cross_entropy(model(x), y).item() for x, y in loader)


    def fit(model, optimizer, train_loader, val_loader, epochs):
        model.train()
        for epoch in range(epochs):
            for x, y in train_loader:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
            evaluate(model, val_loader)
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn.functional as F


    def evaluate(model, loader):
        model.eval()
        with torch.no_grad():
            return sum(F.cross_entropy(model(x), y).item() for x, y in loader)


    def fit(model, optimizer, train_loader, val_loader, epochs):
        for epoch in range(epochs):
            model.train()
            for x, y in train_loader:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
            evaluate(model, val_loader)
    ```

    ## References
    - [PyTorch: Module.train](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train)
    - [PyTorch: Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    - Ioffe & Szegedy, [Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift](https://arxiv.org/abs/1502.03167), ICML 2015 (batch statistics in training, population statistics at inference)
    - Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, [Dropout: A Simple Way to Prevent Neural Networks from Overfitting](https://jmlr.org/papers/v15/srivastava14a.html), JMLR 2014
    - Runtime counterpart: DLP006 train-mode-inference covers the opposite mistake (`dllint probe`)
    """

    code = "DL503"
    name = "eval-not-restored"
    summary = "Training resumes after `model.eval()` without `model.train()`"

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        unrestored: dict[int, tuple[Event, Event]] = {}
        restored: set[int] = set()
        for trace in sem.traces:
            events = trace.events
            for index, event in enumerate(events):
                if event.kind != "backward":
                    continue
                lineage = {id(tensor) for tensor in ancestors(event.target)}
                for position in range(index - 1, -1, -1):
                    forward = events[position]
                    if forward.kind == "backward":
                        break
                    if forward.kind != "forward":
                        continue
                    if not any(id(option) in lineage for option in options_of(forward.output or _NOTHING)):
                        continue
                    verdict = _unrestored_eval(events, position)
                    if verdict is _RESTORED:
                        restored.add(id(forward.node))
                    elif isinstance(verdict, Event):
                        unrestored.setdefault(id(forward.node), (forward, verdict))
        # The same loop seen from several roots: one whose inlining reached the helper that calls
        # ``model.train()`` outweighs one that stopped short of it.
        for key, (forward, culprit) in unrestored.items():
            if key in restored:
                continue
            verdict = holds(sem, forward.target, _MODE_DEPENDENT, unknown=True)
            if verdict.holds is False:
                continue  # no layer behaves differently in eval mode: nothing changes
            where = f" in `{culprit.stack[-1].name}()`" if culprit.stack and culprit.stack[-1] is not forward.stack[-1] else ""
            recurrent = holds(sem, forward.target, frozenset({"recurrent"}), unknown=False).holds
            yield Report(
                forward.node,
                f"this training forward runs in eval mode on later iterations: `.eval()`{where} switched the "
                "model to eval mode and nothing switches it back before training resumes, so Dropout is off "
                "and BatchNorm stops using batch statistics"
                + (" (and on CUDA a recurrent layer's backward fails in eval mode)" if recurrent else "")
                + " — call `model.train()` at the start of each epoch (or of the training function)",
                unless=None if verdict.holds else unless_none_hold_or_custom_call(verdict.deferred, tuple(_MODE_DEPENDENT)),
            )


# Layers that behave differently in eval mode: Dropout, BatchNorm, and recurrent layers (cuDNN
# refuses their backward in eval mode).
_MODE_DEPENDENT = frozenset({"dropout", "batch", "recurrent"})


class _Nothing:
    pass


_NOTHING: Value = _Nothing()  # type: ignore[assignment]


_RESTORED = object()


def _unrestored_eval(events: list[Event], position: int):
    """The ``.eval()`` that put the model of the forward at ``position`` in eval mode, when the
    same call ran earlier in training mode and no ``.train()`` came in between; ``_RESTORED``
    when a ``.train()`` follows an ``.eval()`` of that model before the forward; else None."""
    forward = events[position]
    culprit: Optional[Event] = None
    for earlier in range(position - 1, -1, -1):
        event = events[earlier]
        if event.kind in ("eval", "train") and _same(event.target, forward.target):
            if event.kind == "train":
                return _RESTORED if culprit is None and _evaluated_before(events, earlier, forward) else None
            culprit = culprit or event
        elif event.kind == "forward" and event.node is forward.node:
            if forward.mode not in ("eval", "unknown"):
                return None
            if event.mode in ("train", "caller") and culprit is not None:
                return culprit
            if event.mode not in ("eval", "unknown"):
                return None
    return None


def _evaluated_before(events: list[Event], position: int, forward: Event) -> bool:
    return any(e.kind == "eval" and _same(e.target, forward.target) for e in events[:position])


def _same(a: Value, b: Value) -> bool:
    return any(x is y for x in options_of(a) for y in options_of(b))
