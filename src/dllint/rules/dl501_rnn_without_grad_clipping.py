from __future__ import annotations

from typing import Callable, Iterator, Optional

from dllint.project import (
    unless_all,
    unless_any,
    unless_callee_does,
    unless_no_caller_passes,
    unless_not_known_to_hold,
)
from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics, Instance, Layer
from dllint.semantics.frameworks import Driver
from dllint.semantics.loops import TrainingStep, ancestors, called_elsewhere, holds, received_models
from dllint.semantics.sequences import time_steps
from dllint.semantics.values import Obj, Value, options_of

_RECURRENT = frozenset({"recurrent"})
MAX_SHORT_SEQUENCE = 32


class RnnWithoutGradClipping(Rule):
    """
    ## What it does
    Flags a training step — `loss.backward()` followed by `optimizer.step()` — for a model
    that contains `nn.RNN`, `nn.LSTM`, `nn.GRU` or one of their cells, when nothing clips the
    gradients between the backward pass and the step (`torch.nn.utils.clip_grad_norm_`,
    `clip_grad_value_`, `accelerator.clip_grad_norm_`, `fabric.clip_gradients`, FSDP's
    `model.clip_grad_norm_`, Lightning's `self.clip_gradients`, or the same written by hand over
    every parameter: `for p in model.parameters(): p.grad.data.clamp_(-c, c)`, or
    `p.grad.mul_(clip_coef)` with a factor computed from the gradients' norm; clamping the
    weights, `p.data.clamp_(...)`, clips no gradient). The model is found from the
    loss (what computed it) or from the optimizer (`Adam(model.parameters())`), through local
    variables, helper functions of the same file, and classes defined in other files of the run.

    Training loops that a framework runs are checked the same way:
    - a Lightning `Trainer` (also one built by `LightningCLI`) that fits a module with a
      recurrent layer with automatic optimisation and no `gradient_clip_val` (unset, `0` or
      `None`, also as the default of the `argparse` option it is read from), when the module does
      not override `configure_gradient_clipping` — reported at the `Trainer(...)` call, also when
      the module's class is in another file;
    - a Hugging Face `Trainer`/`Seq2SeqTrainer` whose `TrainingArguments` set `max_grad_norm` to
      `0` or `None` (the default, 1.0, clips) — reported at the `TrainingArguments(...)`;
    - a DeepSpeed engine whose config (a literal dict, or a JSON file found next to the linted
      file or in a folder above it) sets no `gradient_clipping` — reported at `engine.step()`;
    - Accelerate (`accelerator.backward(loss)`), Fabric (`fabric.backward(loss)`) and Lightning's
      manual optimisation (`self.manual_backward(loss)`) steps, like hand-written ones.

    Not flagged: clipping done in a helper the step calls; a framework whose clipping is set
    where dllint cannot read it (a YAML config, the command line, `Trainer(**cfg)`,
    `args.deepspeed_config`); models without recurrent layers; recurrent layers that the code feeds fixed sequences of at most 32 steps (the 28 rows of an
    MNIST image, `x.view(-1, TIME_STEP, INPUT_SIZE)` with constants, a batch of one-hot rows
    `torch.FloatTensor([np.eye(n)[ids] ...])` built from sentences written in the code, padded
    or split into words, transposed or embedded on the way): so few steps cannot multiply into
    an explosion. Sentences read from a file, or a list whose length the code does not fix, keep
    the rule on.

    ## Why is this bad?
    Backpropagation through time multiplies the recurrent Jacobian once per time step, so the
    gradient of an RNN grows (or shrinks) geometrically with the sequence length (Bengio et al., 1994; Pascanu et al., 2013).
    One long or unusual sequence can produce a gradient large enough to throw the weights far
    away — a sudden loss spike or NaN. LSTM and GRU gates tame the vanishing side but not the
    exploding one; gradient-norm clipping is the standard remedy (Pascanu et al., 2013).

    ## Example
    ```python
    import torch
    import torch.nn as nn

    model = nn.LSTM(128, 256, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for inputs, targets in loader:
        output, _ = model(inputs)
        loss = criterion(output, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    model = nn.LSTM(128, 256, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for inputs, targets in loader:
        output, _ = model(inputs)
        loss = criterion(output, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
    ```

    ## References
    - Pascanu, Mikolov & Bengio, [On the difficulty of training recurrent neural networks](https://arxiv.org/abs/1211.5063), ICML 2013 (exploding gradients, and gradient-norm clipping)
    - Bengio, Simard & Frasconi, [Learning long-term dependencies with gradient descent is difficult](https://doi.org/10.1109/72.279181), IEEE Transactions on Neural Networks 1994
    - [PyTorch: torch.nn.utils.clip_grad_norm_](https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html)
    - [PyTorch: torch.nn.LSTM](https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html)
    - Runtime counterpart: DLP002 exploding-gradient (`dllint probe`)
    """

    code = "DL501"
    name = "rnn-without-grad-clipping"
    summary = "Recurrent model trained without gradient clipping"

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        clipped = {id(step.step.node) for step in sem.training_steps if step.step is not None and step.clipped}
        short = _short_everywhere(sem)
        # The same step seen in several runs (its own function's, with parameters; inlined into
        # a caller that passes a concrete model): the most certain verdict is reported.
        best: dict[int, tuple[int, TrainingStep, Optional[Callable]]] = {}
        for step in sem.training_steps:
            if step.step is None or id(step.step.node) in clipped or id(step.step.node) in short:
                continue
            verdict = _verdict(sem, step)
            if verdict is None:
                continue
            rank = 0 if verdict[1] is None else 1 if verdict[0] else 2
            key = id(step.step.node)
            if key not in best or rank < best[key][0]:
                best[key] = (rank, step, verdict[1])
        for _, step, unless in best.values():
            yield Report(step.step.node, _message(step.driver, step.backward.driver), unless=unless)


def _message(driver: Optional[Driver], backward: Optional[Driver]) -> str:
    if driver is None:
        fix = backward.fix if backward is not None else (
            "call `torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)` between `backward()` and `step()`"
        )
        return (
            "this optimizer step applies the gradients of a recurrent model (RNN/LSTM/GRU) that were never "
            f"clipped: backpropagation through time can make them explode on one long sequence — {fix}"
        )
    trains = f"trains a recurrent model (RNN/LSTM/GRU) through {driver.hook}" if driver.hook else "trains a recurrent model (RNN/LSTM/GRU)"
    setting = f" ({driver.setting})" if driver.setting else ""
    return (
        f"this {driver.framework} {trains} without clipping the gradients{setting}: backpropagation through time "
        f"can make them explode on one long sequence — {driver.fix}"
    )


def _verdict(sem: FileSemantics, step: TrainingStep) -> Optional[tuple[bool, Optional[Callable]]]:
    """(whether the step surely trains a recurrent model, the report's ``unless``), or None when
    it trains none: recurrent only if a class of another file holds an RNN, or a caller in
    another file passes this function a model that does; and not when a helper of another
    file called between ``backward()`` and ``step()`` clips."""
    recurrent, deferred = _recurrent_models(sem, step)
    received = [] if recurrent else received_models(sem, _models(step))
    if not recurrent and not deferred and not received:
        return None
    conditions = []
    if not recurrent:
        conditions.append(unless_all(
            *([unless_not_known_to_hold(deferred, ("recurrent",))] if deferred else []),
            *(unless_no_caller_passes(function, param, ("recurrent",)) for function, param in received),
        ))
    callees = called_elsewhere(step.between)
    if callees:
        conditions.append(unless_callee_does(callees, "clip"))
    if step.driver is not None and step.driver.unless is not None:
        conditions.append(step.driver.unless)  # a Lightning module of another file that clips itself
    return recurrent, unless_any(*conditions) if conditions else None


def _short_everywhere(sem: FileSemantics) -> set[int]:
    """The steps (ids of their ``step()`` nodes) whose recurrent layers run over a fixed, short
    sequence (the 28 rows of an MNIST image) in every run that shows them — a run of the
    step's function on its own, with a model parameter it cannot see into, does not count
    against it: backpropagation through so few steps does not explode."""
    short: set[int] = set()
    other: set[int] = set()
    for step in sem.training_steps:
        if step.step is None:
            continue
        lengths = [
            time_steps(sem, tensor)
            for tensor in ancestors(step.backward.target)
            if tensor.kind == "module" and isinstance(tensor.target, Layer) and tensor.target.op.kind == "recurrent"
        ]
        if lengths and all(length is not None and length <= MAX_SHORT_SEQUENCE for length in lengths):
            short.add(id(step.step.node))
        elif lengths:
            other.add(id(step.step.node))
    return short - other


def _models(step: TrainingStep) -> Iterator[Value]:
    """The models behind a step: those that computed the loss and those the optimizer updates."""
    for tensor in ancestors(step.backward.target):
        if tensor.kind == "module":
            yield tensor.target
    yield from _optimized_models(step.step.target if step.step else None, step.step.args if step.step else ())


def _recurrent_models(sem: FileSemantics, step: TrainingStep) -> tuple[bool, tuple[str, ...]]:
    deferred: list[str] = []
    for tensor in ancestors(step.backward.target):
        if tensor.kind != "module":
            continue
        verdict = holds(sem, tensor.target, _RECURRENT, unknown=False)
        if verdict.holds:
            return True, ()
        deferred.extend(verdict.deferred)
    for model in _optimized_models(step.step.target if step.step else None, step.step.args if step.step else ()):
        verdict = holds(sem, model, _RECURRENT, unknown=False)
        if verdict.holds:
            return True, ()
        deferred.extend(verdict.deferred)
    return False, tuple(dict.fromkeys(deferred))


def _optimized_models(optimizer: Value, step_args: tuple[Value, ...]) -> Iterator[Value]:
    """The models whose ``parameters()`` an optimizer (or ``scaler.step(optimizer)``) updates."""
    candidates = list(options_of(optimizer))
    if any(isinstance(c, Obj) and c.qualified.endswith("GradScaler") for c in candidates) and step_args:
        candidates = list(options_of(step_args[0]))
    for candidate in candidates:
        if not isinstance(candidate, Obj):
            continue
        for argument in candidate.args[:1]:
            for params in options_of(argument):
                if isinstance(params, Obj) and params.qualified == "parameters" and params.args:
                    owner = params.args[0]
                    if isinstance(owner, (Instance, Layer)) or owner is not None:
                        yield owner
