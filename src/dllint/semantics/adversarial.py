"""Adversarial training: the discriminator's step, and what its backward does to the generator.

A GAN alternates two steps, each a ``backward()`` followed by its own optimizer's ``step()``:
the discriminator's, on a loss of the discriminator applied to real and generated samples,
stepping an optimizer over the discriminator only; and the generator's, on a loss of the
discriminator applied to generated samples, stepping an optimizer over the generator.

The roles are read off the dataflow, not the names: a *discriminator step* is a backward whose
graph runs through one model's forward call (the discriminator) into another model's output
(the generator), followed by a step of an optimizer that updates the discriminator and not the
generator — in a trace that also has the generator's step (another backward through the same
two models, followed by a step of an optimizer that updates the generator). One loss
backpropagated into both models, with both optimizers stepping, is a joint update by design
and has no separate generator step.

For each discriminator step whose graph reaches the generator (no ``.detach()``, no
``no_grad``, the generator not frozen with ``requires_grad_(False)``), :class:`DiscriminatorStep`
says whether the generator's gradients from it are still there when the generator's optimizer
next steps (``cleared`` False: the generator is updated to help the discriminator) or are
cleared before (only a wasted backward through the generator).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from dllint.semantics.autograd import Autograd, called_inside, produced
from dllint.semantics.loops import looks_like_model
from dllint.semantics.optimizers import clears, covers, optimizer_of, updated_models
from dllint.semantics.trace import Event, Trace
from dllint.semantics.values import Constant, ParameterOf, Unknown, Value, options_of

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics


class DiscriminatorStep:
    """``backward`` (the discriminator's loss) runs through ``discriminator`` (a forward call)
    into the output of ``generator`` (a forward call); ``step`` updates the discriminator;
    ``generator_step`` is the next step of an optimizer over the generator, and ``cleared`` says
    whether the generator's gradients were cleared in between."""

    __slots__ = ("trace", "backward", "discriminator", "generator", "step", "generator_step", "cleared")

    def __init__(self, trace: Trace, backward: Event, discriminator: Event, generator: Event, step: Event,
                 generator_step: Event, cleared: bool) -> None:
        self.trace = trace
        self.backward = backward
        self.discriminator = discriminator
        self.generator = generator
        self.step = step
        self.generator_step = generator_step
        self.cleared = cleared


class _Update:
    """One backward: the (generator, discriminator) forward calls its graph runs through, and
    the models the optimizer stepped after it updates (None: unknown)."""

    __slots__ = ("index", "backward", "pairs", "step", "updated")

    def __init__(self, index: int, backward: Event, pairs: list[tuple[Event, Event]], step: Optional[Event],
                 updated: Optional[list[Value]]) -> None:
        self.index = index
        self.backward = backward
        self.pairs = pairs
        self.step = step
        self.updated = updated


def discriminator_steps(sem: "FileSemantics") -> list[DiscriminatorStep]:
    found: list[DiscriminatorStep] = []
    for trace in sem.traces:
        events = trace.events
        if sum(1 for e in events if e.kind == "backward") < 2:
            continue
        updates = _updates(sem, trace)
        for update in updates:
            if update.updated is None or update.step is None:
                continue
            for generator, discriminator in update.pairs:
                if not covers(update.updated, discriminator.target) or covers(update.updated, generator.target):
                    continue  # not the discriminator's step (the generator's, or a joint one)
                if not _generator_step_exists(updates, update, generator, discriminator):
                    continue
                if _frozen(events, update.index, generator.target):
                    continue
                step = _next_step_of(sem, events, update.index, generator.target)
                if step is None:
                    continue
                window = events[update.index + 1: events.index(step)]
                cleared = any(e.kind == "zero_grad" and clears(sem, e, generator.target) for e in window)
                found.append(DiscriminatorStep(trace, update.backward, discriminator, generator, update.step, step, cleared))
    return found


def _updates(sem: "FileSemantics", trace: Trace) -> list[_Update]:
    autograd = sem.autograd
    events = trace.events
    forwards = [
        (index, e) for index, e in enumerate(events)
        if e.kind == "forward" and not e.no_grad and looks_like_model(sem, e.target, e.node)
    ]
    updates = []
    for index, event in enumerate(events):
        if event.kind != "backward" or event.no_grad:
            continue
        graph = autograd.graph(event.target)
        called = [(i, f) for i, f in forwards if i < index and any(id(t) in graph for t in produced(f))]
        pairs = _pairs(sem, autograd, called)
        step = next((e for e in events[index + 1:] if e.kind == "step"), None)
        updated = updated_models(sem, optimizer_of(step)) if step is not None and pairs else None
        updates.append(_Update(index, event, pairs, step, updated))
    return updates


def _pairs(sem: "FileSemantics", autograd: Autograd, called: list[tuple[int, Event]]) -> list[tuple[Event, Event]]:
    """(generator, discriminator) calls among the forward calls a loss's graph runs through:
    the discriminator's input is computed from the generator's output; each is the outermost
    call of its model (not a submodule called inside the other's forward)."""
    pairs = []
    for d_index, discriminator in called:
        inputs = autograd.graph_of_all(discriminator.args)
        for g_index, generator in called:
            if g_index >= d_index or _same(generator.target, discriminator.target):
                continue
            if _related(generator.target, discriminator.target):
                continue
            if any(id(t) in inputs for t in produced(generator)):
                pairs.append((generator, discriminator))
    calls = [event for _, event in called]
    return [
        (g, d) for g, d in pairs
        if not any(called_inside(sem, d, outer) for outer in calls) and not any(called_inside(sem, g, outer) for outer in calls)
    ]


def _generator_step_exists(updates: list[_Update], discriminator_update: _Update, generator: Event, discriminator: Event) -> bool:
    """Another backward through the same two models, followed by a step of an optimizer over
    the generator: the generator's own step."""
    for update in updates:
        if update is discriminator_update or update.backward.node is discriminator_update.backward.node:
            continue
        if update.updated is None or not covers(update.updated, generator.target):
            continue
        if any(_same(g.target, generator.target) and _same(d.target, discriminator.target) for g, d in update.pairs):
            return True
    return False


def _next_step_of(sem: "FileSemantics", events: list[Event], start: int, model: Value) -> Optional[Event]:
    for event in events[start + 1:]:
        if event.kind == "step":
            updated = updated_models(sem, optimizer_of(event))
            if updated is not None and covers(updated, model):
                return event
    return None


def _frozen(events: list[Event], index: int, model: Value) -> bool:
    """Whether the latest ``requires_grad`` toggle before ``index`` that concerns the model
    (itself, something holding it, one of its parts, its parameters) may have switched its
    gradients off — or one whose target dllint could not follow did (``for net in nets: for p in
    net.parameters(): p.requires_grad = False``, with ``nets`` built under a branch)."""
    for event in reversed(events[:index]):
        if event.kind != "requires_grad":
            continue
        flag = event.args[0] if event.args else None
        switched_on = isinstance(flag, Constant) and flag.value is True
        targets = [
            option.model if isinstance(option, ParameterOf) else option for option in options_of(event.target)
        ]
        if any(type(target) is Unknown for target in targets) and not switched_on:
            return True
        if any(_related(target, model) for target in targets):
            return not switched_on
    return False


def _same(a: Value, b: Value) -> bool:
    return any(x is y for x in options_of(a) for y in options_of(b))


def _related(a: Value, b: Value) -> bool:
    """One is the other, or holds it."""
    return any(covers([x], b) or covers([y], a) for x in options_of(a) for y in options_of(b))
