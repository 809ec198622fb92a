"""Values chosen at run time from a set the code spells out, kept as the set of candidates.

``MODELS = {"unet": UNet, "lstm": LSTMNet}; MODELS[args.arch](...)`` builds one of the
classes, and which one is up to the user: the evaluator keeps every candidate (a
:class:`~dllint.semantics.values.Merge`), so that a rule asks whether any (or every)
candidate holds an LSTM, a Dropout… The same for ``ACTS.get(name)``, ``nn.ModuleDict``
entries picked by a key that is not known, a class or factory chosen by a condition and then
called, and ``{name: nn.Linear(...) for name in heads}``. A known key gives the one value.

Mixed into the evaluator; the hooks in ``evaluator.py``/``library.py`` call these methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.semantics.config_values import user_choice
from dllint.project import WILDCARD
from dllint.semantics.library import from_zoo
from dllint.semantics.paths import State, _for_clauses
from dllint.semantics.scopes import is_library_module
from dllint.semantics.values import (
    ClassRef,
    Constant,
    Container,
    FunctionRef,
    Instance,
    Layer,
    Merge,
    Reference,
    Unknown,
    Value,
    merge,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator

# More candidates than this and the choice stays unknown (each one is built and followed).
MAX_CANDIDATES = 8

_CHOOSABLE_CONTAINERS = ("dict", "module_dict", "list")


def is_choice(value: Value) -> bool:
    """A value worth keeping as a candidate: something that builds a model or a layer when
    called (a class, a layer class, a factory function), or a module object."""
    if isinstance(value, (ClassRef, FunctionRef, Reference, Layer, Instance)):
        return True
    return isinstance(value, Container) and value.kind in ("sequential", "module_list", "module_dict")


def _constructor(value: Value) -> bool:
    return isinstance(value, (ClassRef, Reference)) or (
        isinstance(value, FunctionRef) and value.function.name != "forward"
    )


class CandidatesMixin:
    """Choices among known values (mixed into the evaluator)."""

    def chosen_item(self: "Evaluator", container: Container, key: Value) -> Optional[Value]:
        """``container[key]`` for a key that is not one known constant: every item the key may
        pick, or None when the choice stays unknown."""
        if container.kind not in _CHOOSABLE_CONTAINERS or not container.complete or not container.items:
            return None
        keys = [option.value for option in options_of(key) if isinstance(option, Constant)]
        if keys and len(keys) == len(options_of(key)) and container.keys is not None:
            items = [container.items[container.keys.index(k)] for k in keys if k in container.keys]
            if len(items) != len(keys):
                return None
        elif isinstance(key, Constant):
            return None
        else:
            items = list(container.items)
        if len(items) > MAX_CANDIDATES or not all(is_choice(item) for item in items):
            return None
        result = items[0]
        for item in items[1:]:
            result = merge(result, item)
        return result

    def any_of(self: "Evaluator", owner: Value, key: Value) -> Optional[Value]:
        """``getattr(models, name)``, ``models.__dict__[name]``, ``MODELS[name]`` — a module or a
        dict of another file, a name not known: ``models.*``, any class it holds, for the
        project index (or, for a model zoo, the library) to say which. None when the owner is
        not such a name, or the key is known."""
        if not isinstance(owner, Reference) or (isinstance(key, Constant) and not user_choice(key)):
            return None
        qualified = owner.qualified
        if qualified.endswith(".__dict__"):
            qualified = qualified[: -len(".__dict__")]
        last = qualified.rsplit(".", 1)[-1]
        if last[:1].isupper() and not last.isupper():
            return None  # a class (``getattr(Trainer, name)``): one of its attributes
        wildcard = qualified + WILDCARD
        if is_library_module(qualified) and not from_zoo(wildcard):
            return None
        return Reference(wildcard)

    def attribute_named_by_guard(self: "Evaluator", owner: Value, node: cst.Call) -> Optional[Value]:
        """``getattr(nn, rnn_type)`` under ``if rnn_type in ["LSTM", "GRU"]:`` (or ``== "LSTM"``):
        each attribute the enclosing condition allows."""
        if len(node.args) != 2 or not isinstance(node.args[1].value, cst.Name):
            return None
        site = self.sem.site_of(node)
        if site is None:
            return None
        variable = node.args[1].value.value
        for test, in_body in reversed(site.guards):
            allowed = _allowed_strings(test, variable) if in_body else None
            if allowed and len(allowed) <= MAX_CANDIDATES:
                result = self._get_attribute(owner, allowed[0])
                for name in allowed[1:]:
                    result = merge(result, self._get_attribute(owner, name))
                return result
        return None

    def dict_get(self: "Evaluator", container: Container, args: tuple[Value, ...]) -> Value:
        """``container.get(key)`` / ``container.get(key, default)``."""
        if not args:
            return Unknown()
        key = args[0]
        if isinstance(key, Constant) and container.keys is not None and key.value in container.keys:
            return container.items[container.keys.index(key.value)]
        chosen = None if isinstance(key, Constant) else self.chosen_item(container, key)
        if chosen is None:
            return Unknown()
        if len(args) > 1:
            default = args[1]
            if not (isinstance(default, Constant) and default.value is None):
                if not is_choice(default):
                    return Unknown()
                chosen = merge(chosen, default)
        return chosen

    def invoke_each(self: "Evaluator", callee: Merge, args: tuple[Value, ...], kwargs: dict[str, Value],
                    node: cst.Call, state: State) -> Optional[Value]:
        """Call each of several classes or factories one of which runs (``MODELS[arch](...)``,
        ``(UNet if deep else CNN)(...)``): what each returns, joined. None when the options are
        not all constructors (a module object among them: calling it is a forward pass)."""
        options = callee.options
        if len(options) > MAX_CANDIDATES or not all(_constructor(option) for option in options):
            return None
        result: Optional[Value] = None
        for option in options:
            value = self._invoke(option, args, kwargs, node, state)
            result = value if result is None else merge(result, value)
        return result

    def dict_comprehension(self: "Evaluator", expr: cst.DictComp, state: State) -> Value:
        """``{name: nn.Linear(d, n) for name, n in heads.items()}``: evaluated once per known
        element (each key its own entry, like ``nn.ModuleDict`` filled in a loop); over unknown
        elements, its value once, under keys that are not known."""
        clauses = list(_for_clauses(expr.for_in))
        first = clauses[0]
        elements = self._iteration(self._value(first.iter, state))
        if elements is None:
            inner = state.copy()
            self._assign(first.target, Unknown(), inner)
            self._comprehension_clauses(first, clauses[1:], inner)
            self._value(expr.key, inner)
            return Container("dict", [self._value(expr.value, inner)], expr, complete=False)
        container = Container("dict", [], expr, keys=[])
        for element in elements:
            inner = state.copy()
            self._assign(first.target, element, inner)
            if not self._comprehension_clauses(first, clauses[1:], inner):
                continue
            key = self._value(expr.key, inner)
            value = self._value(expr.value, inner)
            if isinstance(key, Constant) and key.value in container.keys:  # type: ignore[operator]
                container.items[container.keys.index(key.value)] = value  # type: ignore[union-attr]
            elif isinstance(key, Constant):
                container.keys.append(key.value)  # type: ignore[union-attr]
                container.items.append(value)
            else:
                container.complete = False
        return container


def _allowed_strings(test: cst.BaseExpression, variable: str) -> Optional[list[str]]:
    """The strings ``variable`` may be when ``test`` holds: ``variable in ("a", "b")``,
    ``variable == "a"``; None for any other condition."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    if not (isinstance(test.left, cst.Name) and test.left.value == variable):
        return None
    operator, right = test.comparisons[0].operator, test.comparisons[0].comparator
    if isinstance(operator, cst.Equal):
        values = [right]
    elif isinstance(operator, cst.In) and isinstance(right, (cst.List, cst.Tuple, cst.Set)):
        values = [element.value for element in right.elements]
    else:
        return None
    found = [value.evaluated_value for value in values if isinstance(value, cst.SimpleString)]
    if len(found) != len(values) or not all(isinstance(text, str) for text in found):
        return None
    return found  # type: ignore[return-value]
