from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from dllint.findings import UNSAFE
from dllint.project import unless_callee_does
from dllint.rules.base import Report, Rule, TextEdit
from dllint.rules.editing import statement_before
from dllint.semantics import FileSemantics, Instance
from dllint.semantics.loops import TrainingStep, called_elsewhere
from dllint.semantics.modes import model_like_name
from dllint.semantics.syntax import dotted_name
from dllint.semantics.trace import Event
from dllint.semantics.values import (
    Container,
    Layer,
    Obj,
    Param,
    Unknown,
    Value,
    options_of,
)


class MissingZeroGrad(Rule):
    """
    ## What it does
    Flags a training loop that calls `loss.backward()` and `optimizer.step()` on every
    iteration with nothing that clears the gradients between one step and the next
    backward: no `optimizer.zero_grad()`, `model.zero_grad()`, `zero_grad(set_to_none=True)`,
    `p.grad = None` or `p.grad.zero_()`. The loop is followed through helper functions and
    methods of the same file, and across nested loops (epochs × batches).

    Not flagged: deliberate gradient accumulation (`zero_grad()` under
    `if step % accum == 0`, or `step()` and `zero_grad()` both under that condition);
    `zero_grad()` at the end of an iteration instead of the start; clearing done in a
    helper, also one of another file called in place of the step (a from-scratch
    `sgd(params, lr)` that ends with `param.grad.zero_()`, under `if trainer is None:`); engines that own the optimizer (`engine.backward(loss)` / `engine.step()`,
    e.g. DeepSpeed, which zeroes the gradients itself) and trainers that clear them for you
    (Lightning's automatic optimisation, the Hugging Face `Trainer`); a single step that is not
    repeated in a loop; `LBFGS`-style closures passed to `step`. Accelerate's and Fabric's
    `backward(loss)` and Lightning's `manual_backward(loss)` are checked like `loss.backward()`.

    ## Why is this bad?
    `backward()` does not overwrite `.grad`, it *adds* to it — so that gradients from several
    backward passes can be accumulated on purpose. Without clearing them, the gradient used by
    step *n* is the sum of the gradients of batches 1…n: the update direction is dominated by
    stale batches and its size grows with the step count, as if the learning rate kept
    increasing. Mini-batch gradient descent is defined by updating with the
    gradient *of the current mini-batch*; training that silently does otherwise diverges or
    converges to poor solutions with no error message. Backpropagation computes
    a fresh gradient per batch; it is the caller's job to discard the old one.

    ## Example
    ```python
    import torch

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in loader:
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in loader:
        loss = criterion(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ```

    ## Fix safety
    The fix (`--unsafe-fixes`) inserts `optimizer.zero_grad()` — the optimizer the `step()` call
    names, also through `scaler.step(optimizer)` — as the first statement of the innermost loop
    that runs both the `backward()` and the `step()`. There is no fix when those two calls are in
    different functions (a `train_step` helper called in the loop), the loop body is on the
    loop's own line, or the optimizer is created inside the loop. It is unsafe because gradients
    accumulated on purpose, in a way dllint does not recognise, would then be cleared.

    ## References
    - [PyTorch: Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
    - [PyTorch recipe: zeroing out gradients](https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html)
    - Rumelhart, Hinton & Williams, [Learning representations by back-propagating errors](https://doi.org/10.1038/323533a0), Nature 1986
    - Goodfellow, Bengio & Courville, [Deep Learning](https://www.deeplearningbook.org/contents/optimization.html), §8.1.3 (minibatch algorithms: each update uses the current minibatch's gradient)
    """

    code = "DL504"
    name = "missing-zero-grad"
    summary = "Training loop that never clears the gradients between steps"
    fixable = True
    fix_applicability = (UNSAFE,)

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        uncleared: dict[int, tuple[Event, Event, tuple[str, ...]]] = {}
        cleared: set[int] = set()
        by_trace: dict[int, list[TrainingStep]] = {}
        for step in sem.training_steps:
            if step.step is not None:
                by_trace.setdefault(id(step.trace), []).append(step)
        for steps in by_trace.values():
            events = steps[0].trace.events
            position = {id(event): index for index, event in enumerate(events)}
            previous: dict[tuple, TrainingStep] = {}
            for step in steps:
                assert step.step is not None
                # The same step() call run again on the same optimizer: a loop over
                # zip(models, optimizers) steps each optimizer in turn, and an optimizer built
                # inside the loop is a new one each time.
                key = (id(step.step.node), *sorted(id(option) for option in options_of(_optimizer(step.step))))
                earlier = previous.get(key)
                previous[key] = step
                if earlier is None:
                    continue
                backward = _uncleared(events, position, earlier, step)
                if backward is None:
                    cleared.add(id(step.backward.node))
                else:
                    # A helper of another file called anywhere after the previous backward may
                    # clear the gradients: also one called instead of the step
                    # (``if trainer is None: d2l.sgd(params, lr) else: trainer.step()``).
                    window = events[position[id(earlier.backward)] + 1: position[id(step.backward)]]
                    uncleared.setdefault(id(backward.node), (backward, step.step, called_elsewhere(window)))
        # The same loop seen from several roots: a root deep enough to inline the helper that
        # clears the gradients outweighs one whose inlining stopped short of it.
        for key, (backward, step_event, callees) in uncleared.items():
            if key in cleared:
                continue
            edits, optimizer = _fix(sem, backward, step_event)
            yield Report(
                backward.node,
                "this `backward()` runs on every iteration, followed by an optimizer `step()`, but nothing "
                "clears the gradients between one step and the next backward: backward adds to `.grad`, so "
                "each step applies the sum of all earlier batches' gradients — call `optimizer.zero_grad()` "
                "before `backward()` (or right after `step()`)",
                fix_message=f"Call `{optimizer}.zero_grad()` at the top of the loop" if edits else None,
                edits=edits,
                applicability=UNSAFE,
                # a helper of another file called in between may clear them
                unless=unless_callee_does(callees, "zero_grad") if callees else None,
            )


def _fix(sem: FileSemantics, backward: Event, step: Event) -> tuple[tuple[TextEdit, ...], str]:
    """``optimizer.zero_grad()`` as the first statement of the innermost loop that runs both the
    ``backward()`` and the ``step()`` (in one function) — the optimizer named as the ``step()``
    call names it (``optimizer.step()``, ``scaler.step(optimizer)``), and not rebound inside the
    loop. Nothing when the two calls are in different functions or the loop body is on one line."""
    call = step.node
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
        return (), ""
    receiver = call.func.value
    if _scaler_step(step):
        receiver = call.args[0].value if call.args and call.args[0].keyword is None else None  # scaler.step(optimizer)
    optimizer = dotted_name(receiver) if receiver is not None else None
    if optimizer is None:
        return (), ""
    structure = sem.structure
    steps_loops = {id(loop) for loop in structure.enclosing(call, (cst.For, cst.While))}
    loop = next((loop for loop in structure.enclosing(backward.node, (cst.For, cst.While)) if id(loop) in steps_loops), None)
    statements = structure.body_statements(loop) if loop is not None else None
    if not statements or structure.name_uses(loop, optimizer.split(".")[0])[0]:
        return (), ""
    edit = statement_before(sem, statements[0], f"{optimizer}.zero_grad()")
    return ((edit,), optimizer) if edit is not None else ((), "")


def _uncleared(events: list[Event], position: dict[int, int], earlier: TrainingStep, later: TrainingStep) -> Optional[Event]:
    """The backward of ``later`` (the same ``step()`` call run again) when nothing that clears
    the stepped optimizer's gradients happened since ``earlier``'s step."""
    step = earlier.step
    assert step is not None and later.step is not None
    if step.driver is not None and step.driver.clears:
        return None  # a framework's step that clears the gradients itself (a Trainer, a DeepSpeed engine)
    if _model_like(step.target) or _same(later.backward.target, step.target):
        return None  # a model's own ``step()``, or ``engine.backward(loss)`` / ``engine.step()``
    optimizer = _optimizer(step)
    window = events[position[id(step)] + 1: position[id(later.backward)]]
    for event in window:
        if event.kind == "zero_grad" and _clears_for(event.target, optimizer):
            return None
    return later.backward


def _optimizer(step: Event) -> Value:
    """What a step event updates: the optimizer, or the one passed to ``scaler.step(optimizer)``
    (a GradScaler, or a receiver named like one: ``self.scaler``, a ``scaler`` parameter)."""
    if step.args and _scaler_step(step):
        return step.args[0]
    return step.target


def _scaler_step(step: Event) -> bool:
    if any(isinstance(option, Obj) and option.qualified.endswith("GradScaler") for option in options_of(step.target)):
        return True
    func = getattr(step.node, "func", None)
    receiver = func.value if isinstance(func, cst.Attribute) else None
    return receiver is not None and (dotted_name(receiver) or "").lower().endswith("scaler")


def _same(a: Value, b: Value) -> bool:
    return any(x is y for x in options_of(a) for y in options_of(b))


def _clears_for(target: Value, optimizer: Value) -> bool:
    """Whether clearing the gradients of ``target`` clears those the optimizer steps with: the
    same optimizer, a model (its ``zero_grad`` clears all its parameters), or something unknown.
    A different optimizer does not count (a GAN's two optimizers)."""
    if _same(target, optimizer):
        return True
    for option in options_of(target):
        if isinstance(option, Unknown) or _model_like(option):
            return True
        if isinstance(option, Param) and isinstance(optimizer, Param):
            continue  # two distinct optimizer parameters
        if isinstance(option, Obj) and any(isinstance(o, (Obj, Param)) for o in options_of(optimizer)):
            continue
        if not isinstance(option, (Obj, Param)):
            return True
    return False


def _model_like(value: Value) -> bool:
    for option in options_of(value):
        if isinstance(option, (Instance, Container, Layer)):
            return True
        if isinstance(option, Param) and (model_like_name(option.name) or "engine" in option.name.lower()):
            return True
    return False
