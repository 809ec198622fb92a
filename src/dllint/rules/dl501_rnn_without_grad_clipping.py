from __future__ import annotations

from typing import Iterator, Optional

from dllint.project import unless_any, unless_not_known_to_hold
from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics, Instance, Layer
from dllint.semantics.frameworks import Driver
from dllint.semantics.loops import TrainingStep, ancestors, holds
from dllint.semantics.values import Obj, Value, options_of

_RECURRENT = frozenset({"recurrent"})


class RnnWithoutGradClipping(Rule):
    """
    ## What it does
    Flags a training step — `loss.backward()` followed by `optimizer.step()` — for a model
    that contains `nn.RNN`, `nn.LSTM`, `nn.GRU` or one of their cells, when nothing clips the
    gradients between the backward pass and the step (`torch.nn.utils.clip_grad_norm_`,
    `clip_grad_value_`, `accelerator.clip_grad_norm_`, `fabric.clip_gradients`, FSDP's
    `model.clip_grad_norm_`, Lightning's `self.clip_gradients`). The model is found from the
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
    `args.deepspeed_config`); models without recurrent layers.

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
        reported: set[int] = set()
        for step in sem.training_steps:
            if step.step is None or step.clipped or id(step.step.node) in reported:
                continue
            recurrent, deferred = _recurrent_models(sem, step)
            if not recurrent and not deferred:
                continue
            reported.add(id(step.step.node))
            unless = None if recurrent else unless_not_known_to_hold(deferred, ("recurrent",))
            driver = step.driver
            if driver is not None and driver.unless is not None:
                unless = driver.unless if unless is None else unless_any(unless, driver.unless)
            yield Report(step.step.node, _message(driver, step.backward.driver), unless=unless)


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
