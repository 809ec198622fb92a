"""Calling contexts and configurations: a function evaluated with the values its callers pass,
a model class evaluated once per set of constructor arguments.

* A class is built once per distinct set of constructor arguments (constants fold into the
  key; other values are their own key) and once with its defaults (:meth:`instance_of` with
  no arguments). Each build follows the paths of ``__init__`` (``paths.py``): a build whose
  ``__init__`` chooses between arms yields one :class:`~dllint.semantics.values.Instance` per
  path, joined in a :class:`~dllint.semantics.values.Merge`. :meth:`configurations` lists them.
* A same-file function called with arguments is inlined with those values (a few levels
  deep); a parameter its caller does not pass takes its literal default, which decides the
  conditions that read it (:class:`ParamDefault`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import libcst as cst

from dllint.semantics import catalog
from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.paths import Choices, Frame, State
from dllint.semantics.scopes import ClassInfo, FunctionInfo
from dllint.semantics.trace import Trace
from dllint.semantics.values import (
    AttributeOf,
    Constant,
    Instance,
    Merge,
    Obj,
    Param,
    Reference,
    Starred,
    Tensor,
    Unknown,
    Value,
    merge,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator

# Where a configuration was built (``Evaluator.built_from``), besides the instance that built it.
ROOT = "root"
STANDALONE = "standalone"

MAX_INLINE_DEPTH = 4
MAX_CONFIGURATIONS = 8
STATEMENT_BUDGET = 4000


class BudgetExceeded(Exception):
    pass


class ParamDefault(Constant):
    """A parameter with a literal default: folds to the default unless a caller says otherwise."""

    __slots__ = ("name", "function", "annotation")

    def __init__(self, name: str, function: FunctionInfo, annotation: Optional[str], default: Any) -> None:
        super().__init__(default)
        self.name = name
        self.function = function
        self.annotation = annotation


class ContextsMixin:
    """Instances, configurations and inlined calls (mixed into the evaluator)."""

    def instance_of(self: "Evaluator", cls: ClassInfo, args: Optional[dict[str, Value]] = None,
                    node: Optional[cst.CSTNode] = None) -> Value:
        """An instance of a class of this file, its ``__init__`` evaluated with ``args``: an
        :class:`Instance`, or a :class:`Merge` of one per path of ``__init__``."""
        args = args or {}
        key = (id(cls), tuple(sorted((name, constant_key(value)) for name, value in args.items())))
        context = STANDALONE if node is None else (self._building_instances[-1] if self._building_instances else ROOT)
        contexts = self.built_from.setdefault(key, [])
        if not any(context is seen for seen in contexts):
            contexts.append(context)
        known = self._instances.get(key)
        if known is not None:
            return known
        init = self.sem.find_method(cls, "__init__")
        if init is None or len(self._building) >= MAX_INLINE_DEPTH or cls in self._building:
            # No ``__init__`` of this file: nothing stored yet. A class that builds itself (a
            # recursive tree of blocks) or a very deep nesting: its contents stay unknown
            # rather than unrolling forever.
            attrs = self._fields_of(cls, args) if init is None else None  # a dataclass: its fields
            instance = Instance(cls.qualified, node or cls.node, cls=cls, attrs=attrs, init_args=args)
            self._instances[key] = instance
            self.configuration_key[id(instance)] = key
            self._record_configuration(cls, instance)
            return instance
        self._instances[key] = Instance(cls.qualified, node or cls.node, cls=cls, attrs=None, init_args=args)
        variants = self._explore(lambda choices: self._construct(cls, init, args, node, choices, key))
        result = variants[0] if len(variants) == 1 else Merge(tuple(variants))
        self._instances[key] = result
        return result

    def _construct(self: "Evaluator", cls: ClassInfo, init: FunctionInfo, args: dict[str, Value],
                   node: Optional[cst.CSTNode], choices: Choices, key: tuple) -> Instance:
        instance = Instance(cls.qualified, node or cls.node, cls=cls, attrs={}, init_args=args)
        self.configuration_key[id(instance)] = key
        saved = (self._trace, self._budget, self._stack, self._frames)
        self._trace = Trace(init)
        self._budget = STATEMENT_BUDGET
        self._stack = [init]
        if args and node is not None:
            self._instance_sites.append(node)
        calls = len(self._call_nodes)
        if isinstance(node, cst.Call):
            self._call_nodes.append(node)
        self._building.append(cls)
        self._building_instances.append(instance)
        try:
            self._inline(init, args, instance, Frame(init, init.scope, instance, [], False))
        except BudgetExceeded:
            pass
        finally:
            self._building.pop()
            self._building_instances.pop()
            del self._call_nodes[calls:]
            if args and node is not None:
                self._instance_sites.pop()
            self._trace, self._budget, self._stack, self._frames = saved
        instance.path = choices.describe()
        self._record_configuration(cls, instance)
        return instance

    def _record_configuration(self: "Evaluator", cls: ClassInfo, instance: Instance) -> None:
        built = self._configurations.setdefault(id(cls), [])
        if len(built) < MAX_CONFIGURATIONS:
            built.append(instance)

    def configurations(self: "Evaluator", cls: ClassInfo) -> list[Instance]:
        """Every instance of the class built so far — its defaults first, then each set of
        constructor arguments seen — one per path of ``__init__``."""
        self.instance_of(cls)
        return list(self._configurations.get(id(cls), ()))

    def _call_function(self: "Evaluator", function: FunctionInfo, args: tuple[Value, ...], kwargs: dict[str, Value],
                       self_value: Optional[Value], node: Optional[cst.CSTNode], state: Optional[State]) -> Value:
        if len(self._stack) >= MAX_INLINE_DEPTH:
            # What this call does with its arguments goes unseen (``demonstrations``: a model
            # handed to it may be trained there).
            self.not_inlined.append((*args, *kwargs.values(), *((self_value,) if self_value is not None else ())))
            return Unknown()
        if function in self._stack:
            return Unknown()
        bound = bind_call(function, args, kwargs, skip_self=self_value is not None)
        if isinstance(node, cst.Call):
            self._call_nodes.append(node)
        try:
            result = self._inline(function, bound, self_value, None, state.modes if state is not None else None)
        finally:
            if isinstance(node, cst.Call):
                self._call_nodes.pop()
        return result if result is not None else Unknown()

    def _inline(self: "Evaluator", function: FunctionInfo, args: dict[str, Value], self_value: Optional[Value],
                frame: Optional[Frame], modes: Optional[dict[int, str]] = None) -> Optional[Value]:
        """Evaluate a same-file function with the given arguments; returns its return value.

        ``modes`` is the caller's record of which models are in eval mode: shared, so a helper
        that calls ``model.eval()`` changes what the caller sees afterwards.
        """
        caller = self._frames[-1] if self._frames else None
        if frame is None:
            frame = Frame(
                function,
                function.scope,
                self_value,
                [],
                (caller.no_grad if caller else False) if function.no_grad is None else function.no_grad,
                caller.iterations if caller else (),
                caller.conditional if caller else 0,
            )
        state = State(self._bind_params(function, args, self_value), modes if modes is not None else {})
        if self_value is not None and function.self_name:
            state.env[function.self_name] = self_value
        self._frames.append(frame)
        self._stack.append(function)
        try:
            self._block(function.node.body, state)
        finally:
            self._stack.pop()
            self._frames.pop()
        if not frame.returns:
            return None
        result = frame.returns[0]
        for value in frame.returns[1:]:
            result = merge(result, value)
        return result

    def _bind_params(self: "Evaluator", function: FunctionInfo, args: dict[str, Value],
                     self_value: Optional[Value]) -> dict[str, Value]:
        from dllint.semantics.modes import model_like_name

        env: dict[str, Value] = {}
        self_name = function.self_name if self_value is not None else None
        for param in function.params:
            name = param.name.value
            if name == self_name:
                continue
            if name in args:
                env[name] = args[name]
                continue
            annotation = None
            if param.annotation is not None:
                annotation = function.scope.parent.resolve(param.annotation.annotation) if function.scope.parent else None
            if param.default is not None:
                scope = function.scope.parent or function.scope
                folded = fold(param.default, scope)
                if folded is not UNKNOWN and not (annotation is None and model_like_name(name)) and (
                    folded is not None or self._configures(function)
                ):
                    env[name] = ParamDefault(name, function, annotation, folded)
                    continue
            env[name] = Param(name, function, annotation)
        return env

    def _configures(self: "Evaluator", function: FunctionInfo) -> bool:
        """Whether a function's parameters configure what it builds (a constructor, a helper
        that builds layers): there a ``None`` default is a choice (``norm_layer=None`` means
        BatchNorm). Elsewhere it marks an optional input (``forward(x, labels=None)``): the
        callers that pass it are the point, so it decides nothing."""
        return function.name == "__init__" or (function.name != "forward" and self._builds_models(function))

    def _init_args(self: "Evaluator", cls: ClassInfo, args: tuple[Value, ...], kwargs: dict[str, Value]) -> dict[str, Value]:
        init = self.sem.find_method(cls, "__init__")
        if init is None:
            return self._field_args(cls, args, kwargs)
        return bind_call(init, args, kwargs, skip_self=True)

    def _param_default(self: "Evaluator", param: Param) -> Optional[Value]:
        """``act_layer=nn.GELU``: a parameter defaulting to a layer class, called to build a layer."""
        for candidate in param.function.params:
            if candidate.name.value == param.name and candidate.default is not None:
                qualified = param.function.scope.parent.resolve(candidate.default) if param.function.scope.parent else None
                if qualified and catalog.layer_op(qualified) is not None:
                    return Reference(qualified)
        return None


def constant_key(value: Value) -> Any:
    """What tells one configuration from another: a constant by its value, a library class or
    function by its name, a module object by its identity; values that carry no information
    (unknown, a parameter, a tensor) all alike."""
    if isinstance(value, Constant):
        try:
            hash(value.value)
            return ("c", value.value)
        except TypeError:
            return ("v", id(value))
    if isinstance(value, Merge):
        return ("m",) + tuple(constant_key(option) for option in options_of(value))
    if isinstance(value, Reference):
        return ("r", value.qualified)
    if isinstance(value, (Unknown, Param, Tensor, Obj, AttributeOf)):
        return ("?",)
    return ("v", id(value))


def bind_positional(function: FunctionInfo, inputs: tuple[Value, ...]) -> dict[str, Value]:
    params = [p.name.value for p in function.params]
    if function.self_name and params and params[0] == function.self_name:
        params = params[1:]
    return dict(zip(params, inputs))


def bind_call(function: FunctionInfo, args: tuple[Value, ...], kwargs: dict[str, Value], *, skip_self: bool) -> dict[str, Value]:
    params = [p.name.value for p in function.params]
    if skip_self and params:
        params = params[1:]
    bound: dict[str, Value] = {}
    for name, value in zip(params, args):
        if isinstance(value, Starred):
            break
        bound[name] = value
    for name, value in kwargs.items():
        if name in params:
            bound[name] = value
    return bound
