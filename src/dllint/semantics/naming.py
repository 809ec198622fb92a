"""Names built at run time, and a module's children by the names it registered them under.

Layers built in a loop are registered and found again by a name the loop builds:
``setattr(self, "fc%d" % i, ...)``, ``self.add_module("conv" + str(i), ...)``,
``getattr(self, "layer{}".format(i))`` (f-strings are folded by the evaluator). With the parts
known, these are the strings. ``for name, module in self.named_children(): x = module(x)``
applies the submodules in the order they were registered.

Mixed into the evaluator; the hooks in ``evaluator.py``/``library.py`` call these methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from dllint.semantics.values import Constant, Container, Instance, Layer, Value, options_of

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator

# Longer strings are not names: leave them unknown rather than build big constants.
MAX_NAME_LENGTH = 200

_MODULE_CONTAINERS = ("sequential", "module_list", "module_dict")


def _text(value: Any) -> Optional[Constant]:
    return Constant(value) if isinstance(value, str) and len(value) <= MAX_NAME_LENGTH else None


def string_operation(operator: str, left: Value, right: Value) -> Optional[Constant]:
    """``"fc" + "0"``, ``"fc%d" % i``, ``"%s_%d" % (name, i)``, ``"P" * pad`` with known parts."""
    if isinstance(right, Container) and right.complete and all(isinstance(item, Constant) for item in right.items):
        right = Constant(tuple(item.value for item in right.items))  # type: ignore[union-attr]
    if not (isinstance(left, Constant) and isinstance(right, Constant) and isinstance(left.value, str)):
        return None
    if operator == "Add" and isinstance(right.value, str):
        return _text(left.value + right.value)
    if operator == "Multiply" and isinstance(right.value, int) and not isinstance(right.value, bool):
        return _text(left.value * max(right.value, 0)) if len(left.value) * right.value <= MAX_NAME_LENGTH else None
    if operator == "Modulo" and isinstance(right.value, (str, int, float, tuple)):
        try:
            return _text(left.value % right.value)
        except (TypeError, ValueError, KeyError, OverflowError):
            return None
    return None


def string_method(receiver: Constant, name: str, args: tuple[Value, ...], kwargs: dict[str, Value]) -> Optional[Constant]:
    """``"fc{}".format(i)``, ``"_".join(("fc", "1"))``, ``"i like dog".split()`` with known parts."""
    text = receiver.value
    if not isinstance(text, str):
        return None
    if name == "format":
        values = [arg.value for arg in args if isinstance(arg, Constant)]
        named = {key: value.value for key, value in kwargs.items() if isinstance(value, Constant) and key != "**"}
        if len(values) != len(args) or len(named) != len(kwargs):
            return None
        try:
            return _text(text.format(*values, **named))
        except (IndexError, KeyError, ValueError, TypeError, AttributeError):
            return None
    if name == "split" and not kwargs and len(args) <= 1:
        separator = args[0].value if args and isinstance(args[0], Constant) else None
        if args and not isinstance(separator, str):
            return None
        return Constant(tuple(text.split(separator)))
    if name == "join" and len(args) == 1:
        parts = args[0]
        if isinstance(parts, Container) and parts.complete and all(
            isinstance(item, Constant) and isinstance(item.value, str) for item in parts.items
        ):
            return _text(text.join(item.value for item in parts.items))  # type: ignore[union-attr]
        if isinstance(parts, Constant) and isinstance(parts.value, (tuple, list)) and all(isinstance(p, str) for p in parts.value):
            return _text(text.join(parts.value))
    return None


def as_string(args: tuple[Value, ...]) -> Optional[Constant]:
    """``str(i)`` for a known ``i``."""
    if len(args) == 1 and isinstance(args[0], Constant) and isinstance(args[0].value, (str, int, float, bool)):
        return _text(str(args[0].value))
    return None


class NamingMixin:
    """A module's registered children (mixed into the evaluator)."""

    def children_of(self: "Evaluator", owner: Value, named: bool) -> Optional[Container]:
        """``owner.children()`` / ``owner.named_children()``: the submodules in the order they
        were registered ((name, module) pairs when ``named``); None when they are not known."""
        if isinstance(owner, Instance):
            if owner.attrs is None:
                return None
            pairs = [(key, value) for key, value in owner.attrs.items() if self._is_submodule(value)]
        elif isinstance(owner, Container) and owner.kind in _MODULE_CONTAINERS:
            if not owner.complete:
                return None
            keys = owner.keys if owner.keys is not None and len(owner.keys) == len(owner.items) else [
                str(index) for index in range(len(owner.items))
            ]
            pairs = list(zip(keys, owner.items))
        else:
            return None
        items: list[Value] = [
            Container("list", [Constant(key), value], None) if named else value for key, value in pairs
        ]
        return Container("list", items, None)

    def _is_submodule(self: "Evaluator", value: Value) -> bool:
        for option in options_of(value):
            if isinstance(option, Layer):
                continue
            if isinstance(option, Container) and option.kind in _MODULE_CONTAINERS:
                continue
            if isinstance(option, Instance) and (option.cls is None or self.sem.is_module_class(option.cls)):
                continue
            return False
        return True
