"""The abstract values the evaluator computes: what a name holds at a point in the code.

A value is either a *module object* (a torch layer, a Sequential/ModuleList, an instance of
a model class, the ``self`` of a method), a *tensor* (the output of an operation, with the
values it was computed from — this is the dataflow graph the architecture rules read), or
something else the rules care about (an optimizer, a constant, a function).
"""

from __future__ import annotations

from typing import Any, Optional

import libcst as cst

from dllint.semantics.catalog import Op, short_name
from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.scopes import ClassInfo, FunctionInfo, Scope


class Value:
    """Base class of every abstract value."""

    __slots__ = ()

    def __repr__(self) -> str:  # short on purpose: values are cyclic and hold syntax trees
        label = getattr(self, "qualified", None) or getattr(self, "kind", None) or getattr(self, "name", None) or ""
        return f"<{type(self).__name__} {label}>".replace(" >", ">")


class Unknown(Value):
    __slots__ = ()


class ParameterOf(Unknown):
    """One of ``model.parameters()`` — a loop variable over them: which tensor is unknown (it
    behaves as :class:`Unknown` everywhere), whose is known (``model``)."""

    __slots__ = ("model",)

    def __init__(self, model: Value) -> None:
        self.model = model


class Constant(Value):
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class Reference(Value):
    """A resolved name that is not defined in this file: ``torch.nn.Conv2d``, ``torch.optim.Adam``."""

    __slots__ = ("qualified",)

    def __init__(self, qualified: str) -> None:
        self.qualified = qualified


class ClassRef(Value):
    __slots__ = ("cls",)

    def __init__(self, cls: ClassInfo) -> None:
        self.cls = cls


class FunctionRef(Value):
    __slots__ = ("function", "bound_self")

    def __init__(self, function: FunctionInfo, bound_self: Optional[Value] = None) -> None:
        self.function = function
        self.bound_self = bound_self


class Param(Value):
    """A function parameter whose value comes from the caller."""

    __slots__ = ("name", "function", "annotation")

    def __init__(self, name: str, function: FunctionInfo, annotation: Optional[str] = None) -> None:
        self.name = name
        self.function = function
        self.annotation = annotation


class Layer(Value):
    """An instance of a ``torch.nn`` layer class, with the arguments it was built with."""

    __slots__ = ("op", "qualified", "node", "scope", "args", "env", "instance_site", "built_by", "given", "choices")

    def __init__(
        self,
        op: Op,
        qualified: str,
        node: cst.Call,
        scope: Scope,
        args: dict[str, cst.BaseExpression],
        env: Optional[dict[str, Any]] = None,
        instance_site: Optional[cst.CSTNode] = None,
        built_by: Optional[cst.Call] = None,
        given: Optional[dict[str, "Constant"]] = None,
        choices: Any = None,
    ) -> None:
        self.op = op
        self.qualified = qualified
        self.node = node
        self.scope = scope
        self.args = args
        self.env: dict[str, Any] = {} if env is None else env  # constants the arguments may refer to
        # The call that built the model-class instance this layer belongs to, when that instance
        # was built with arguments (``Block(3, 16, k=4)``): where argument-dependent findings go.
        self.instance_site = instance_site
        # The innermost call of a function or class of this file that built it
        # (``block(64, 128)``, ``Block(64)``): tells apart the layers one line builds per call.
        self.built_by = built_by
        # The arguments whose values the evaluation knew, however they were written
        # (``args.dropout``, ``self.p``, ``cfg["k"]``): constants, some of them configuration
        # defaults (``config_values.ConfigValue``).
        self.given: dict[str, Constant] = {} if given is None else given
        # The arms its evaluation took (``paths.Choices``; None when not split into paths):
        # ``choices.defaults`` lists the conditions decided by a default the user can override.
        self.choices = choices

    def arg(self, name: str, default: Any = UNKNOWN) -> Any:
        """The folded value of a constructor argument; ``default`` when it was surely not
        passed (UNKNOWN when ``*args``/``**kwargs`` may have passed it)."""
        if name not in self.args:
            if name in self.given:  # passed through ``**kwargs`` whose keys were known
                return self.given[name].value
            return UNKNOWN if any(arg.star for arg in self.node.args) else default
        value = fold(self.args[name], self.scope, self.env)
        if value is UNKNOWN and name in self.given:
            return self.given[name].value
        return value

    def config_note(self, *names: str) -> str:
        """How a finding about these arguments names the configuration default they come
        from: `` with the default `--dropout 0.9``` ("" when none does)."""
        for name in names:
            value = self.given.get(name)
            describe = getattr(value, "describe", None)
            if describe is not None and self.arg(name) == value.value:  # type: ignore[union-attr]
                return f", {describe()}"
        return ""

    def report_site(self, *names: str) -> tuple[cst.CSTNode, str]:
        """Where a finding about these arguments belongs, and what its message must add: the
        call that built the enclosing model (``Block(3, 16, k=4)``) when one of them folds only
        with the values passed there, noted as such; else the layer's own constructor."""
        note = self.config_note(*names)
        if self.instance_site is not None and any(
            name in self.args and fold(self.args[name], self.scope) is UNKNOWN for name in names
        ):
            return self.instance_site, f" (the `{short_name(self.qualified)}` inside the model built here{note})"
        return self.node, f" ({note[2:]})" if note else ""


class Container(Value):
    """``nn.Sequential``, ``nn.ModuleList``, ``nn.ModuleDict`` or a plain list/tuple/dict.

    ``complete`` is False when something of unknown content went in (``extend(unknown)``).
    """

    __slots__ = ("kind", "items", "node", "keys", "complete", "qualified")

    def __init__(
        self,
        kind: str,
        items: list[Value],
        node: Optional[cst.CSTNode],
        keys: Optional[list[Any]] = None,
        complete: bool = True,
        qualified: Optional[str] = None,
    ) -> None:
        self.kind = kind  # sequential | module_list | module_dict | list | dict
        self.items = items
        self.node = node
        self.keys = keys
        self.complete = complete
        self.qualified = qualified


class Instance(Value):
    """An object of a class: a model class of this file (``cls``), or one known only by name.

    origin: constructed | zoo (``torchvision.models.resnet50()``, ``timm.create_model``) |
            pretrained (``from_pretrained``, already in eval mode) | loaded (a checkpoint)
    """

    __slots__ = ("qualified", "node", "cls", "origin", "attrs", "init_args", "path")

    def __init__(
        self,
        qualified: Optional[str],
        node: Optional[cst.CSTNode],
        cls: Optional[ClassInfo] = None,
        origin: str = "constructed",
        attrs: Optional[dict[str, Value]] = None,
        init_args: Optional[dict[str, Value]] = None,
    ) -> None:
        self.qualified = qualified
        self.node = node
        self.cls = cls
        self.origin = origin
        self.attrs = attrs  # filled by evaluating ``__init__``
        self.init_args: dict[str, Value] = {} if init_args is None else init_args
        # The conditions ``__init__`` chose on the path that built this instance, in words.
        self.path = ""


class Tensor(Value):
    """The output of an operation.

    kind: input | module (a module object applied) | function | method | binop | unary |
          subscript | merge | call (an unknown callable applied) | fresh (``torch.zeros(...)``,
          a new tensor that depends on no other) | parameter (``nn.Parameter(t)``)
    target: the module object (kind module), the qualified name (function/call), the method
            name (method) or the operator's class name (binop/unary)
    """

    __slots__ = ("kind", "target", "inputs", "node", "op")

    def __init__(
        self, kind: str, target: Any, inputs: tuple[Value, ...], node: Optional[cst.CSTNode], op: Optional[Op] = None
    ) -> None:
        self.kind = kind
        self.target = target
        self.inputs = inputs
        self.node = node
        self.op = op

    @property
    def module_op(self) -> Optional[Op]:
        """The catalog op of what produced this tensor (a layer or a functional op)."""
        if self.kind == "module" and isinstance(self.target, Layer):
            return self.target.op
        return self.op


class AttributeOf(Value):
    """``owner.name`` where the owner is a layer or a model known only by name: ``fc.weight``."""

    __slots__ = ("owner", "name")

    def __init__(self, owner: Value, name: str) -> None:
        self.owner = owner
        self.name = name

    @property
    def base(self) -> Value:
        """``fc`` for ``fc.weight.data``: the owner, looking through ``.data``."""
        owner = self.owner
        while isinstance(owner, AttributeOf) and owner.name == "data":
            owner = owner.owner
        return owner

    @property
    def path(self) -> tuple[Value, str]:
        """(layer, "weight") for ``layer.weight.data`` / ``layer.weight``."""
        current: Value = self
        while isinstance(current, AttributeOf) and current.name == "data":
            current = current.owner
        if isinstance(current, AttributeOf):
            return current.owner, current.name
        return current, ""


# ``copy.deepcopy(model)``: an object of its own, whose ``parameters()`` are the copy's.
MODEL_COPIES = frozenset({"copy.deepcopy", "copy.copy"})


class Obj(Value):
    """The result of calling something outside this file that is not a layer or a tensor op:
    an optimizer, a GradScaler, ``model.parameters()``, a Trainer."""

    __slots__ = ("qualified", "node", "args", "kwargs")

    def __init__(
        self,
        qualified: str,
        node: Optional[cst.CSTNode],
        args: tuple[Value, ...] = (),
        kwargs: Optional[dict[str, Value]] = None,
    ) -> None:
        self.qualified = qualified
        self.node = node
        self.args = args
        self.kwargs: dict[str, Value] = {} if kwargs is None else kwargs


class Merge(Value):
    """One of several values, depending on a branch taken at run time."""

    __slots__ = ("options",)

    def __init__(self, options: tuple[Value, ...]) -> None:
        self.options = options


class Starred(Value):
    """A ``*args`` argument whose elements are unknown."""

    __slots__ = ("value",)

    def __init__(self, value: Value) -> None:
        self.value = value


class SuperOf(Value):
    """``super()`` inside a method of ``owner``."""

    __slots__ = ("owner",)

    def __init__(self, owner: Optional[Value]) -> None:
        self.owner = owner


def merge(a: Value, b: Value) -> Value:
    if a is b:
        return a
    options: list[Value] = []
    for value in (a, b):
        for option in value.options if isinstance(value, Merge) else (value,):
            if not any(option is seen for seen in options):
                options.append(option)
    return Merge(tuple(options)) if len(options) > 1 else options[0]


def options_of(value: Value) -> tuple[Value, ...]:
    return value.options if isinstance(value, Merge) else (value,)


def producer(tensor: Value, *, through: tuple[str, ...] = ()) -> Optional[Tensor]:
    """The tensor's producing operation, looking through ops whose kind is in ``through``
    (e.g. ``("identity", "reshape")``) to the first one that is not."""
    current = tensor
    seen = 0
    while isinstance(current, Tensor) and seen < 50:
        op = current.module_op
        if op is None or op.kind not in through or not current.inputs:
            return current
        current = current.inputs[0]
        seen += 1
    return current if isinstance(current, Tensor) else None


def drops_out(layer: Layer) -> bool:
    """Whether a layer applies dropout in train mode: a Dropout layer, or an RNN/LSTM/GRU with
    ``dropout`` between stacked layers (one layer ignores it; PyTorch warns). Unknown counts."""
    if layer.op.kind == "dropout":
        return True
    return layer.op.kind == "recurrent" and layer.arg("dropout", 0) != 0 and layer.arg("num_layers", 1) != 1
