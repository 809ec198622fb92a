"""The abstract values the evaluator computes: what a name holds at a point in the code.

A value is either a *module object* (a torch layer, a Sequential/ModuleList, an instance of
a model class, the ``self`` of a method), a *tensor* (the output of an operation, with the
values it was computed from — this is the dataflow graph the architecture rules read), or
something else the rules care about (an optimizer, a constant, a function).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import libcst as cst

from dllint.semantics.catalog import Op
from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.scopes import ClassInfo, FunctionInfo, Scope


class Value:
    """Base class of every abstract value."""

    def __repr__(self) -> str:  # short on purpose: values are cyclic and hold syntax trees
        label = getattr(self, "qualified", None) or getattr(self, "kind", None) or getattr(self, "name", None) or ""
        return f"<{type(self).__name__} {label}>".replace(" >", ">")


@dataclass(eq=False, repr=False)
class Unknown(Value):
    pass


@dataclass(eq=False, repr=False)
class Constant(Value):
    value: Any


@dataclass(eq=False, repr=False)
class Reference(Value):
    """A resolved name that is not defined in this file: ``torch.nn.Conv2d``, ``torch.optim.Adam``."""

    qualified: str


@dataclass(eq=False, repr=False)
class ClassRef(Value):
    cls: ClassInfo


@dataclass(eq=False, repr=False)
class FunctionRef(Value):
    function: FunctionInfo
    bound_self: Optional[Value] = None


@dataclass(eq=False, repr=False)
class Param(Value):
    """A function parameter whose value comes from the caller."""

    name: str
    function: FunctionInfo
    annotation: Optional[str] = None


@dataclass(eq=False, repr=False)
class Layer(Value):
    """An instance of a ``torch.nn`` layer class, with the arguments it was built with."""

    op: Op
    qualified: str
    node: cst.Call
    scope: Scope
    args: dict[str, cst.BaseExpression]
    env: dict[str, Any] = field(default_factory=dict)  # constants the arguments may refer to
    # The call that built the model-class instance this layer belongs to, when that instance
    # was built with arguments (``Block(3, 16, k=4)``): where argument-dependent findings go.
    instance_site: Optional[cst.CSTNode] = None

    def arg(self, name: str, default: Any = UNKNOWN) -> Any:
        """The folded value of a constructor argument; ``default`` when it was surely not
        passed (UNKNOWN when ``*args``/``**kwargs`` may have passed it)."""
        if name not in self.args:
            return UNKNOWN if any(arg.star for arg in self.node.args) else default
        return fold(self.args[name], self.scope, self.env)

    def report_site(self, *names: str) -> tuple[cst.CSTNode, bool]:
        """Where a finding about these arguments belongs: the call that built the enclosing
        model (``Block(3, 16, k=4)``) when one of them folds only with the values passed
        there, else the layer's own constructor. The flag says which."""
        if self.instance_site is not None and any(
            name in self.args and fold(self.args[name], self.scope) is UNKNOWN for name in names
        ):
            return self.instance_site, True
        return self.node, False


@dataclass(eq=False, repr=False)
class Container(Value):
    """``nn.Sequential``, ``nn.ModuleList``, ``nn.ModuleDict`` or a plain list/tuple/dict.

    ``complete`` is False when something of unknown content went in (``extend(unknown)``).
    """

    kind: str  # sequential | module_list | module_dict | list | dict
    items: list[Value]
    node: Optional[cst.CSTNode]
    keys: Optional[list[Any]] = None
    complete: bool = True
    qualified: Optional[str] = None


@dataclass(eq=False, repr=False)
class Instance(Value):
    """An object of a class: a model class of this file (``cls``), or one known only by name.

    origin: constructed | zoo (``torchvision.models.resnet50()``, ``timm.create_model``) |
            pretrained (``from_pretrained``, already in eval mode) | loaded (a checkpoint)
    """

    qualified: Optional[str]
    node: Optional[cst.CSTNode]
    cls: Optional[ClassInfo] = None
    origin: str = "constructed"
    attrs: Optional[dict[str, Value]] = None  # filled by evaluating ``__init__``
    init_args: dict[str, Value] = field(default_factory=dict)


@dataclass(eq=False, repr=False)
class Tensor(Value):
    """The output of an operation.

    kind: input | module (a module object applied) | function | method | binop | unary |
          subscript | merge | call (an unknown callable applied) | fresh (``torch.zeros(...)``,
          a new tensor that depends on no other) | parameter (``nn.Parameter(t)``)
    target: the module object (kind module), the qualified name (function/call), the method
            name (method) or the operator's class name (binop/unary)
    """

    kind: str
    target: Any
    inputs: tuple[Value, ...]
    node: Optional[cst.CSTNode]
    op: Optional[Op] = None

    @property
    def module_op(self) -> Optional[Op]:
        """The catalog op of what produced this tensor (a layer or a functional op)."""
        if self.kind == "module" and isinstance(self.target, Layer):
            return self.target.op
        return self.op


@dataclass(eq=False, repr=False)
class AttributeOf(Value):
    """``owner.name`` where the owner is a layer or a model known only by name: ``fc.weight``."""

    owner: Value
    name: str

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


@dataclass(eq=False, repr=False)
class Obj(Value):
    """The result of calling something outside this file that is not a layer or a tensor op:
    an optimizer, a GradScaler, ``model.parameters()``, a Trainer."""

    qualified: str
    node: Optional[cst.CSTNode]
    args: tuple[Value, ...] = ()
    kwargs: dict[str, Value] = field(default_factory=dict)


@dataclass(eq=False, repr=False)
class Merge(Value):
    """One of several values, depending on a branch taken at run time."""

    options: tuple[Value, ...]


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
