"""An abstract interpreter over function bodies: the one place that knows what code *does*.

It follows values through local variables, branches (both sides, merged), loops (unrolled
a few times, so "the next epoch" is visible), same-file helper functions and methods
(inlined a few levels deep) and the ``__init__``/``forward`` of model classes. As it goes it
records:

* the dataflow graph of tensors (:class:`~dllint.semantics.values.Tensor`) — which layer
  feeds which, what a model returns, what reaches a loss;
* every layer and container it constructs, with the constants its arguments depend on;
* a trace of :class:`Event`s — forward calls of models with the model's train/eval mode at
  that moment, ``backward``, optimizer ``step``/``zero_grad``, gradient clipping,
  ``eval()``/``train()`` — with their context (inside ``no_grad``, which loop iteration).

Everything is bounded (a statement budget per root, an inlining depth) so a huge file costs
linear time and never hangs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable, Optional

import libcst as cst

from dllint.semantics import catalog
from dllint.semantics.constants import UNKNOWN, arithmetic, fold
from dllint.semantics.scopes import CallSite, ClassInfo, FunctionInfo, Scope
from dllint.semantics.syntax import bind_arguments
from dllint.semantics.values import (
    AttributeOf,
    ClassRef,
    Constant,
    Container,
    FunctionRef,
    Instance,
    Layer,
    Merge,
    Obj,
    Param,
    ParameterOf,
    Reference,
    Tensor,
    Unknown,
    Value,
    merge,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

MAX_INLINE_DEPTH = 4
STATEMENT_BUDGET = 4000
UNKNOWN_LOOP_UNROLL = 2
MAX_LOOP_UNROLL = 4
MAX_CONTAINER_ITERATION = 24

# Calls whose result is a model from a zoo or a checkpoint.
_ZOO_PREFIXES = ("torchvision.models.", "timm.create_model", "torch.hub.load", "segmentation_models_pytorch.")
_MODEL_LIKE_WORDS = frozenset({
    "model", "net", "network", "module", "encoder", "decoder", "classifier", "backbone", "teacher", "student",
    "generator", "discriminator", "critic", "actor", "policy", "autoencoder", "transformer", "lstm", "rnn", "gru",
    "cnn", "mlp", "detector", "segmenter", "regressor", "head",
})
_NOT_A_MODEL_WORDS = frozenset({
    "cls", "class", "classes", "fn", "func", "factory", "builder", "build", "type", "path", "name", "names", "config",
    "cfg", "kwargs", "args", "dir", "file", "id", "ids", "url", "str", "get", "make", "create", "load", "init",
})
_MODE_METHODS_RETURNING_SELF = frozenset(
    {"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "requires_grad_", "share_memory", "type", "to_empty"}
)
_CLIP_FUNCTIONS = frozenset(
    {"torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_", "torch.nn.utils.clip_grad_norm",
     "torch.nn.utils.clip_grad_value", "torch.nn.utils.get_total_norm", "torch.nn.utils.clip_grads_with_norm_"}
)
_TENSOR_CONSTRUCTORS = frozenset(
    f"torch.{name}"
    for name in (
        "zeros", "ones", "full", "empty", "randn", "rand", "randint", "arange", "linspace", "eye", "tensor",
        "as_tensor", "from_numpy", "zeros_like", "ones_like", "full_like", "empty_like", "randn_like", "rand_like",
        "Tensor", "FloatTensor", "LongTensor",
    )
)
_CLIP_METHODS = frozenset({"clip_grad_norm_", "clip_grad_value_", "clip_gradients", "clip_grad_norm", "clip_grad_value"})


class Event:
    """Something a training or inference loop does, in execution order.

    kind: forward | recurrent | backward | step | zero_grad | clip | eval | train | unscale | requires_grad
    target: the model (forward/eval/train), the loss (backward) or the optimizer (step/zero_grad)
    recurrent: an ``nn.RNN``/``LSTM``/``GRU`` layer (or cell) applied: (target: the layer, with
    ``output`` and ``args`` as for a forward)
    requires_grad: ``model.requires_grad_(flag)`` or ``p.requires_grad = flag`` (target: the model,
    or the parameter — a :class:`ParameterOf` in a loop over ``model.parameters()``; args: (flag,))
    zero_grad also stands for the other ways of clearing gradients: ``p.grad = None`` (node:
    the assigned attribute), ``p.grad.zero_()``, helpers named ``*zero_grad*``
    mode: for forward: the model's mode at that moment (train | eval | caller | self | unknown)
    """

    __slots__ = (
        "kind", "node", "target", "site", "no_grad", "iterations", "conditional", "stack", "mode", "output", "args",
    )

    def __init__(
        self,
        kind: str,
        node: cst.CSTNode,
        target: Value,
        site: Optional[CallSite],
        no_grad: bool,
        iterations: tuple[tuple[cst.CSTNode, int], ...],
        conditional: bool,
        stack: tuple[FunctionInfo, ...],
        mode: str = "",
        output: Optional[Value] = None,
        args: tuple[Value, ...] = (),
    ) -> None:
        self.kind = kind
        self.node = node
        self.target = target
        self.site = site
        self.no_grad = no_grad
        self.iterations = iterations
        self.conditional = conditional
        self.stack = stack
        self.mode = mode
        self.output = output
        self.args = args

    def __repr__(self) -> str:
        return f"<Event {self.kind}>"


class State:
    __slots__ = ("env", "modes", "returned")

    def __init__(self, env: dict[str, Value], modes: Optional[dict[int, str]] = None, returned: bool = False) -> None:
        self.env = env
        self.modes: dict[int, str] = {} if modes is None else modes
        self.returned = returned

    def copy(self) -> "State":
        return State(dict(self.env), dict(self.modes), self.returned)


class _Frame:
    __slots__ = ("function", "scope", "self_value", "returns", "no_grad", "iterations", "conditional")

    def __init__(
        self,
        function: Optional[FunctionInfo],
        scope: Scope,
        self_value: Optional[Value],
        returns: list[Value],
        no_grad: bool,
        iterations: tuple[tuple[cst.CSTNode, int], ...] = (),
        conditional: int = 0,
    ) -> None:
        self.function = function
        self.scope = scope
        self.self_value = self_value
        self.returns = returns
        self.no_grad = no_grad
        self.iterations = iterations
        self.conditional = conditional


class Trace:
    """What one root evaluation saw."""

    __slots__ = ("root", "events", "returns", "complete")

    def __init__(
        self,
        root: Optional[FunctionInfo],
        events: Optional[list[Event]] = None,
        returns: Optional[list[Value]] = None,
        complete: bool = True,
    ) -> None:
        self.root = root
        self.events: list[Event] = [] if events is None else events
        self.returns: list[Value] = [] if returns is None else returns
        self.complete = complete


class Evaluator:
    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self.layers: list[Layer] = []
        self.containers: list[Container] = []
        self.tensors: list[Tensor] = []
        self._instances: dict[tuple, Instance] = {}
        self._module_values: dict[str, Value] = {}
        self._resolving_globals: set[str] = set()
        self._budget = STATEMENT_BUDGET
        self._trace: Optional[Trace] = None
        self.init_traces: dict[int, Trace] = {}
        # What reached each call: (callee or receiver, positional args, keyword args), per evaluation.
        self.observed: dict[int, list[tuple[Value, tuple[Value, ...], dict[str, Value]]]] = {}
        self._instance_sites: list[cst.CSTNode] = []
        self._building: list[ClassInfo] = []  # classes whose __init__ is being evaluated
        # (id of layer, parameter name) of parameters frozen with requires_grad = False
        self.frozen: set[tuple[int, str]] = set()
        # ids of the tensors computed while gradient recording was off (``torch.no_grad()``)
        self.no_grad_tensors: set[int] = set()
        self._stack: list[FunctionInfo] = []
        self._frames: list[_Frame] = []

    # roots ----------------------------------------------------------------------------------

    def run_module(self) -> Trace:
        module = self.sem.info
        frame = _Frame(None, module.scope, None, [], False)
        return self._run_root(None, frame, module.node.body, State({}))

    def run_function(self, function: FunctionInfo, self_value: Optional[Value] = None,
                     args: Optional[dict[str, Value]] = None) -> Trace:
        state = State(self._bind_params(function, args or {}, self_value))
        if self_value is not None and function.self_name:
            state.env[function.self_name] = self_value
        frame = _Frame(function, function.scope, self_value, [], function.no_grad)
        return self._run_root(function, frame, function.node.body, state)

    def _run_root(self, function: Optional[FunctionInfo], frame: _Frame, body, state: State) -> Trace:
        trace = Trace(function)
        previous = (self._trace, self._budget, self._stack, self._frames)
        self._trace, self._budget, self._stack, self._frames = trace, STATEMENT_BUDGET, [function] if function else [], [frame]
        try:
            if isinstance(body, cst.BaseSuite):
                self._block(body, state)
            else:
                self._statements(body, state)
        except _BudgetExceeded:
            trace.complete = False
        finally:
            trace.returns = frame.returns
            self._trace, self._budget, self._stack, self._frames = previous
        return trace

    def instance_of(self, cls: ClassInfo, args: Optional[dict[str, Value]] = None, node: Optional[cst.CSTNode] = None) -> Instance:
        """An instance of a model class of this file, its ``__init__`` evaluated with ``args``."""
        args = args or {}
        key = (id(cls), tuple(sorted((k, _constant_key(v)) for k, v in args.items())))
        instance = self._instances.get(key)
        if instance is not None:
            return instance
        instance = Instance(cls.qualified, node or cls.node, cls=cls, attrs={}, init_args=args)
        self._instances[key] = instance
        init = self.sem.find_method(cls, "__init__")
        if init is not None and (len(self._building) >= MAX_INLINE_DEPTH or cls in self._building):
            # A class that builds itself (a recursive tree of blocks) or a very deep nesting:
            # its contents stay unknown rather than unrolling forever.
            instance.attrs = None
        elif init is not None:
            saved = (self._trace, self._budget, self._stack, self._frames)
            self._trace = Trace(init)
            if not args:
                self.init_traces[id(cls)] = self._trace
            self._budget = STATEMENT_BUDGET
            self._stack = [init]
            if args and node is not None:
                self._instance_sites.append(node)
            self._building.append(cls)
            try:
                self._inline(init, args, instance, _Frame(init, init.scope, instance, [], False))
            except _BudgetExceeded:
                pass
            finally:
                self._building.pop()
                if args and node is not None:
                    self._instance_sites.pop()
                self._trace, self._budget, self._stack, self._frames = saved
        return instance

    def apply(self, module: Value, inputs: tuple[Value, ...], node: Optional[cst.CSTNode]) -> Value:
        """Apply a module object to input tensors (a forward pass through it)."""
        if isinstance(module, Merge):
            return Unknown()
        if isinstance(module, Layer):
            return self._tensor("module", module, inputs, node)
        if isinstance(module, Container) and module.kind == "sequential":
            current: Value = inputs[0] if inputs else self._tensor("input", None, (), None)
            for item in module.items:
                current = self.apply(item, (current,), node)
            if not module.complete:
                current = self._tensor("call", None, (current,), node)
            return current
        if isinstance(module, Instance) and module.cls is not None and len(self._stack) < MAX_INLINE_DEPTH:
            forward = self.sem.find_method(module.cls, "forward")
            if forward is not None and self.sem.is_module_class(module.cls):
                if module.attrs is None:
                    module.attrs = {}
                args = _bind_positional(forward, inputs)
                result = self._inline(forward, args, module, None)
                if result is not None:
                    return result
        return self._tensor("module", module, inputs, node)

    # statements -----------------------------------------------------------------------------

    def _statements(self, statements: Iterable[cst.CSTNode], state: State) -> None:
        for statement in statements:
            if state.returned:
                return
            self._statement(statement, state)

    def _statement(self, node: cst.CSTNode, state: State) -> None:
        self._budget -= 1
        if self._budget < 0:
            raise _BudgetExceeded
        node_type = type(node)  # exact types: see _value
        if node_type is cst.SimpleStatementLine:
            for small in node.body:
                self._small(small, state)
        elif node_type is cst.If:
            self._value(node.test, state)
            self._branches(node.body, node.orelse, state)
        elif node_type in (cst.For, cst.While):
            self._loop(node, state)
        elif node_type is cst.With:
            frame = self._frames[-1]
            saved = frame.no_grad
            for item in node.items:
                value = self._value(item.item, state)
                if self._is_no_grad(item.item):
                    frame.no_grad = True
                if item.asname is not None:
                    self._assign(item.asname.name, value, state)
            try:
                self._block(node.body, state)
            finally:
                frame.no_grad = saved
        elif node_type in (cst.Try, cst.TryStar):
            self._block(node.body, state)
            for handler in node.handlers:
                branch = state.copy()
                branch.returned = False
                self._conditional(self._block, handler.body, branch)
            if node.orelse is not None:
                self._block(node.orelse.body, state)
            if node.finalbody is not None:
                self._block(node.finalbody.body, state)
        elif node_type is cst.FunctionDef:
            function = self.sem.function_of(node)
            if function is not None:
                state.env[node.name.value] = FunctionRef(function)
        elif node_type is cst.ClassDef:
            cls = self.sem.class_of(node)
            if cls is not None:
                state.env[node.name.value] = ClassRef(cls)
        elif node_type is cst.Match:
            self._value(node.subject, state)
            for case in node.cases:
                branch = state.copy()
                self._conditional(self._block, case.body, branch)

    def _block(self, block: cst.BaseSuite, state: State) -> None:
        if isinstance(block, cst.SimpleStatementSuite):
            for small in block.body:
                self._small(small, state)
        else:
            self._statements(block.body, state)

    def _conditional(self, run, *args) -> None:
        """Run ``run(*args)`` as code that may or may not execute (a branch, a handler)."""
        frame = self._frames[-1]
        frame.conditional += 1
        try:
            run(*args)
        finally:
            frame.conditional -= 1

    def _branches(self, body: cst.BaseSuite, orelse: Optional[cst.CSTNode], state: State) -> None:
        then_state = state.copy()
        self._conditional(self._block, body, then_state)
        else_state = state.copy()
        if isinstance(orelse, cst.If):
            self._conditional(self._statement, orelse, else_state)
        elif isinstance(orelse, cst.Else):
            self._conditional(self._block, orelse.body, else_state)
        self._join(state, then_state, else_state)

    def _join(self, state: State, a: State, b: State) -> None:
        if a.returned and not b.returned:
            a = b
        elif b.returned and not a.returned:
            b = a
        for name in set(a.env) | set(b.env):
            left, right = a.env.get(name), b.env.get(name)
            if left is None or right is None:
                state.env[name] = left or right  # type: ignore[assignment]
            else:
                state.env[name] = merge(left, right)
        for key in set(a.modes) | set(b.modes):
            left, right = a.modes.get(key), b.modes.get(key)
            state.modes[key] = left if left == right else "unknown"
        state.returned = a.returned and b.returned

    def _loop(self, node: cst.CSTNode, state: State) -> None:
        frame = self._frames[-1]
        if isinstance(node, cst.For):
            iterable = self._value(node.iter, state)
            elements = self._iteration(iterable)
        else:
            self._value(node.test, state)
            elements = None
        count = len(elements) if elements is not None else UNKNOWN_LOOP_UNROLL
        saved = frame.iterations
        try:
            for index in range(count):
                frame.iterations = saved + ((node, index),)
                if isinstance(node, cst.For):
                    element = elements[index] if elements is not None else _element_of(iterable, node.target)
                    self._assign(node.target, element, state)
                self._block(node.body, state)
                if state.returned:
                    break
        finally:
            frame.iterations = saved
        if node.orelse is not None:
            self._block(node.orelse.body, state)

    def _iteration(self, iterable: Value) -> Optional[list[Value]]:
        """The elements a for-loop visits, when known (capped); None when unknown."""
        if isinstance(iterable, Constant) and isinstance(iterable.value, (tuple, list, str)):
            return [Constant(v) for v in list(iterable.value)[:MAX_CONTAINER_ITERATION]]
        if isinstance(iterable, Container) and iterable.complete:
            items = iterable.items if iterable.kind != "module_dict" and iterable.kind != "dict" else [
                Constant(k) for k in (iterable.keys or [])
            ]
            return list(items[:MAX_CONTAINER_ITERATION]) if items else []
        if isinstance(iterable, Obj) and iterable.qualified == "builtins.range":
            count = iterable.kwargs.get("count")
            if isinstance(count, Constant) and isinstance(count.value, int):
                return [Constant(i) for i in range(min(max(count.value, 0), MAX_LOOP_UNROLL))]
        if isinstance(iterable, Obj) and iterable.qualified in ("builtins.enumerate", "builtins.zip", "builtins.reversed"):
            parts = [self._iteration(arg) for arg in iterable.args]
            if any(part is None for part in parts) or not parts:
                return None
            if iterable.qualified == "builtins.reversed":
                return list(reversed(parts[0]))  # type: ignore[arg-type]
            if iterable.qualified == "builtins.enumerate":
                return [Container("list", [Constant(i), item], None) for i, item in enumerate(parts[0])]  # type: ignore[arg-type]
            return [Container("list", list(items), None) for items in zip(*parts)]  # type: ignore[misc]
        if isinstance(iterable, Obj) and iterable.qualified == "dict.items" and iterable.args:
            container = iterable.args[0]
            if isinstance(container, Container) and container.complete and container.keys is not None:
                return [Container("list", [Constant(k), v], None) for k, v in zip(container.keys, container.items)]
        return None

    def _small(self, node: cst.CSTNode, state: State) -> None:
        node_type = type(node)  # exact types: see _value
        if node_type is cst.Assign:
            value = self._value(node.value, state)
            for target in node.targets:
                self._assign(target.target, value, state)
        elif node_type is cst.AnnAssign:
            if node.value is not None:
                self._assign(node.target, self._value(node.value, state), state)
        elif node_type is cst.AugAssign:
            right = self._value(node.value, state)
            left = self._value(node.target, state)
            if isinstance(left, Container) and isinstance(node.operator, cst.AddAssign):
                self._extend(left, right)
                result: Value = left
            else:
                result = self._binary(type(node.operator).__name__.replace("Assign", ""), left, right, node)
            self._assign(node.target, result, state)
        elif node_type is cst.Expr:
            self._value(node.value, state)
        elif node_type is cst.Return:
            frame = self._frames[-1]
            frame.returns.append(self._value(node.value, state) if node.value is not None else Constant(None))
            state.returned = True
        elif node_type is cst.Raise:
            state.returned = True
        elif node_type in (cst.Import, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                state.env.pop(alias.evaluated_alias or alias.evaluated_name.split(".")[0], None)

    def _assign(self, target: cst.CSTNode, value: Value, state: State) -> None:
        if isinstance(target, cst.Name):
            state.env[target.value] = value
        elif isinstance(target, (cst.Tuple, cst.List)):
            elements = target.elements
            items = value.items if isinstance(value, Container) and value.complete and len(value.items) == len(elements) else None
            for index, element in enumerate(elements):
                item = items[index] if items is not None else self._unpack(value, index)
                self._assign(element.value, item, state)
        elif isinstance(target, cst.StarredElement):
            self._assign(target.value, Unknown(), state)
        elif isinstance(target, cst.Attribute):
            owner = self._value(target.value, state)
            if isinstance(owner, Instance) and owner.attrs is not None:
                owner.attrs[target.attr.value] = value
            elif isinstance(owner, AttributeOf) and target.attr.value == "requires_grad" and _is_false(value):
                self._freeze(owner)
            if target.attr.value == "requires_grad":
                self._event("requires_grad", target, owner, args=(value,))
            if target.attr.value == "grad" and (
                (isinstance(value, Constant) and value.value is None) or (isinstance(value, Tensor) and value.kind == "fresh")
            ):
                # ``p.grad = None`` / ``p.grad = torch.zeros_like(p)``: clears a parameter's gradient,
                # like ``zero_grad(set_to_none=True)`` (``p.grad += g`` computes a binop: not a clear).
                self._event("zero_grad", target, owner)
        elif isinstance(target, cst.Subscript):
            owner = self._value(target.value, state)
            if isinstance(owner, Container) and owner.kind in ("module_dict", "dict"):
                key = self._value(target.slice[0].slice.value, state) if isinstance(target.slice[0].slice, cst.Index) else None
                if isinstance(key, Constant) and owner.keys is not None and key.value in owner.keys:
                    # A key set again keeps its slot (dict semantics); set in one branch and
                    # again in another (``d["head"] = ...`` under if and else), it holds either.
                    index = owner.keys.index(key.value)
                    conditional = self._frames[-1].conditional > 0
                    owner.items[index] = merge(owner.items[index], value) if conditional else value
                elif isinstance(key, Constant):
                    owner.keys = (owner.keys or []) + [key.value]
                    owner.items.append(value)
                else:
                    owner.complete = False

    def _unpack(self, value: Value, index: int) -> Value:
        if isinstance(value, Tensor):
            return self._tensor("subscript", None, (value,), value.node)
        return Unknown()

    # expressions ----------------------------------------------------------------------------

    def _value(self, expr: Optional[cst.BaseExpression], state: State) -> Value:
        if expr is None:
            return Unknown()
        # Exact types, not isinstance: LibCST's node classes are ABCs, and every failed
        # isinstance against one goes through ABCMeta.__instancecheck__ (slow, and hot here).
        expr_type = type(expr)
        if expr_type is cst.Name:
            return self._name(expr.value, state)
        if expr_type is cst.Attribute:
            return self._attribute(expr, state)
        if expr_type is cst.Call:
            return self._call(expr, state)
        if expr_type in (cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString):
            folded = fold(expr, self._frames[-1].scope)
            return Constant(folded) if folded is not UNKNOWN else Unknown()
        if expr_type in (cst.Tuple, cst.List):
            container = Container("list", [], expr)
            for element in expr.elements:
                value = self._value(element.value, state)
                if isinstance(element, cst.StarredElement):
                    self._extend(container, value)
                else:
                    container.items.append(value)
            return container
        if expr_type is cst.Dict:
            container = Container("dict", [], expr, keys=[])
            for element in expr.elements:
                if isinstance(element, cst.DictElement):
                    key = self._value(element.key, state)
                    container.items.append(self._value(element.value, state))
                    if isinstance(key, Constant):
                        container.keys.append(key.value)  # type: ignore[union-attr]
                    else:
                        container.complete = False
                else:
                    self._value(element.value, state)
                    container.complete = False
            return container
        if expr_type is cst.BinaryOperation:
            left = self._value(expr.left, state)
            right = self._value(expr.right, state)
            return self._binary(type(expr.operator).__name__, left, right, expr)
        if expr_type is cst.UnaryOperation:
            operand = self._value(expr.expression, state)
            if isinstance(operand, Constant):
                folded = fold(expr, self._frames[-1].scope)
                return Constant(folded) if folded is not UNKNOWN else Unknown()
            if isinstance(operand, Tensor):
                return self._tensor("unary", type(expr.operator).__name__, (operand,), expr)
            return Unknown()
        if expr_type is cst.IfExp:
            self._value(expr.test, state)
            return merge(self._value(expr.body, state), self._value(expr.orelse, state))
        if expr_type is cst.Subscript:
            return self._subscript(expr, state)
        if expr_type in (cst.ListComp, cst.GeneratorExp, cst.SetComp):
            return self._comprehension(expr, state)
        if expr_type is cst.NamedExpr:
            value = self._value(expr.value, state)
            self._assign(expr.target, value, state)
            return value
        if expr_type in (cst.Comparison, cst.BooleanOperation):
            parts = [expr.left] + [c.comparator for c in expr.comparisons] if expr_type is cst.Comparison else [expr.left, expr.right]
            values = [self._value(part, state) for part in parts]
            if expr_type is cst.BooleanOperation:
                return merge(values[0], values[1])
            return Unknown()
        if expr_type in (cst.Await,):
            return self._value(expr.expression, state)
        if expr_type is cst.Lambda:
            return Unknown()
        if expr_type is cst.FormattedString:
            for part in expr.parts:
                if isinstance(part, cst.FormattedStringExpression):
                    self._value(part.expression, state)
            return Unknown()
        return Unknown()

    def _name(self, name: str, state: State) -> Value:
        if name in state.env:
            return state.env[name]
        if name in _LITERAL_NAMES:
            return Constant(_LITERAL_NAMES[name])
        return self._global(name, self._frames[-1].scope)

    def _global(self, name: str, scope: Scope) -> Value:
        """A name not bound by the code evaluated so far: an import, a class, a def, a module-level value."""
        bindings = scope.lookup(name)
        if bindings is None:
            qualified = scope.resolve(cst.Name(name))
            return Reference(qualified) if qualified else Unknown()
        if len(bindings) != 1:
            qualified = scope.resolve(cst.Name(name))
            return Reference(qualified) if qualified else Unknown()
        binding = bindings[0]
        if binding.kind == "class":
            cls = self.sem.class_of(binding.node)
            return ClassRef(cls) if cls is not None else Unknown()
        if binding.kind == "def":
            function = self.sem.function_of(binding.node)
            return FunctionRef(function) if function is not None else Unknown()
        if binding.kind == "import":
            return Reference(catalog.canonical(binding.qualified)) if binding.qualified else Unknown()
        if binding.kind == "assign" and binding.value is not None:
            key = f"{id(binding)}"
            if key in self._module_values:
                return self._module_values[key]
            if key in self._resolving_globals or not self._owned_by_module(scope, name):
                return Unknown()
            self._resolving_globals.add(key)
            try:
                frame = _Frame(None, self.sem.info.scope, None, [], False)
                self._frames.append(frame)
                try:
                    value = self._value(binding.value, State({}))
                finally:
                    self._frames.pop()
            finally:
                self._resolving_globals.discard(key)
            self._module_values[key] = value
            return value
        return Unknown()

    def _owned_by_module(self, scope: Scope, name: str) -> bool:
        return name in self.sem.info.scope.bindings and scope.lookup(name) is self.sem.info.scope.bindings[name]

    def _attribute(self, expr: cst.Attribute, state: State) -> Value:
        owner = self._value(expr.value, state)
        name = expr.attr.value
        return self._get_attribute(owner, name)

    def _get_attribute(self, owner: Value, name: str) -> Value:
        if isinstance(owner, Reference):
            return Reference(catalog.canonical(f"{owner.qualified}.{name}"))
        if isinstance(owner, Instance):
            if owner.attrs is not None and name in owner.attrs:
                return owner.attrs[name]
            if owner.cls is not None:
                method = self.sem.find_method(owner.cls, name)
                if method is not None:
                    if "builtins.property" in method.decorators:
                        return self._call_function(method, (), {}, owner, None, None)
                    return FunctionRef(method, owner)
                return Unknown()
            return AttributeOf(owner, name)
        if isinstance(owner, (Layer, Param, AttributeOf)):
            return AttributeOf(owner, name)
        if isinstance(owner, ClassRef):
            method = self.sem.find_method(owner.cls, name)
            return FunctionRef(method) if method is not None else Unknown()
        if isinstance(owner, Merge):
            values = [self._get_attribute(option, name) for option in owner.options]
            result = values[0]
            for value in values[1:]:
                result = merge(result, value)
            return result
        return Unknown()

    def _subscript(self, expr: cst.Subscript, state: State) -> Value:
        owner = self._value(expr.value, state)
        index: Value = Unknown()
        if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            index = self._value(expr.slice[0].slice.value, state)
        elif len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Slice):
            sliced = self._slice(owner, expr.slice[0].slice, state)
            if sliced is not None:
                return sliced
        else:
            for element in expr.slice:
                if isinstance(element.slice, cst.Index):
                    self._value(element.slice.value, state)
        if isinstance(owner, Constant) and isinstance(owner.value, (tuple, list)):
            folded = fold(expr, self._frames[-1].scope, {k: v.value for k, v in state.env.items() if isinstance(v, Constant)})
            return Constant(folded) if folded is not UNKNOWN else Unknown()
        if isinstance(owner, Container):
            if isinstance(index, Constant):
                if owner.keys is not None:
                    if index.value in owner.keys:
                        return owner.items[owner.keys.index(index.value)]
                    return Unknown()
                if isinstance(index.value, int) and owner.complete and -len(owner.items) <= index.value < len(owner.items):
                    return owner.items[index.value]
            if owner.kind in ("module_list", "sequential") and owner.items and owner.complete and not isinstance(expr.slice[0].slice, cst.Slice):
                result = owner.items[0]
                for item in owner.items[1:]:
                    result = merge(result, item)
                return result
            return Unknown()
        if isinstance(owner, (Tensor, Param)):
            return self._tensor("subscript", None, (owner,), expr)
        return Unknown()

    def _slice(self, owner: Value, bounds: cst.Slice, state: State) -> Optional[Value]:
        """``self.layers[:-1]`` of a container whose items are known."""
        if not isinstance(owner, Container) or not owner.complete or owner.keys is not None:
            return None
        parts = []
        for part in (bounds.lower, bounds.upper, bounds.step):
            value = self._value(part, state) if part is not None else Constant(None)
            if not isinstance(value, Constant) or not (value.value is None or isinstance(value.value, int)):
                return None
            parts.append(value.value)
        return Container(owner.kind, owner.items[slice(*parts)], bounds, qualified=owner.qualified)

    def _comprehension(self, expr, state: State) -> Value:
        inner = state.copy()
        repeats: Optional[int] = None
        for clause in _for_clauses(expr.for_in):
            iterable = self._value(clause.iter, inner)
            elements = self._iteration(iterable)
            if elements is not None and repeats is None:
                repeats = len(elements)
            self._assign(clause.target, elements[0] if elements else Unknown(), inner)
            for condition in clause.ifs:
                self._value(condition.test, inner)
        element = self._value(expr.elt, inner)
        count = min(repeats, MAX_LOOP_UNROLL) if repeats is not None else UNKNOWN_LOOP_UNROLL
        return Container("list", [element] * count, expr, complete=repeats is not None)

    def _binary(self, operator: str, left: Value, right: Value, node: cst.CSTNode) -> Value:
        if isinstance(left, Constant) and isinstance(right, Constant):
            folded = arithmetic(operator, left.value, right.value)
            return Constant(folded) if folded is not UNKNOWN else Unknown()
        if operator == "Add" and isinstance(left, Container) and isinstance(right, Container):
            return Container("list", left.items + right.items, node, complete=left.complete and right.complete)
        if operator == "Multiply" and isinstance(left, Container) and isinstance(right, Constant) and isinstance(right.value, int):
            return Container("list", left.items * min(right.value, MAX_LOOP_UNROLL), node, complete=right.value <= MAX_LOOP_UNROLL)
        if any(isinstance(v, (Tensor, Param, Unknown, Merge)) for v in (left, right)):
            return self._tensor("binop", operator, (left, right), node)
        return Unknown()

    def _extend(self, container: Container, value: Value) -> None:
        if isinstance(value, Container) and value.kind not in ("dict", "module_dict"):
            container.items.extend(value.items)
            container.complete = container.complete and value.complete
        else:
            container.complete = False

    # calls ----------------------------------------------------------------------------------

    def _call(self, node: cst.Call, state: State) -> Value:
        func = node.func
        if isinstance(func, cst.Attribute):
            receiver = self._value(func.value, state)
            name = func.attr.value
            held = isinstance(receiver, Instance) and receiver.attrs is not None and name in receiver.attrs
            if not isinstance(receiver, (Reference, ClassRef)) and not held:
                args, kwargs = self._arguments(node, state)
                self._observe(node, receiver, args, kwargs)
                return self._method(receiver, name, args, kwargs, node, state)
            callee = self._get_attribute(receiver, name)
        else:
            callee = self._value(func, state)
        args, kwargs = self._arguments(node, state)
        self._observe(node, callee, args, kwargs)
        return self._invoke(callee, args, kwargs, node, state)

    def _observe(self, node: cst.Call, callee: Value, args: tuple[Value, ...], kwargs: dict[str, Value]) -> None:
        seen = self.observed.setdefault(id(node), [])
        if len(seen) < 8:
            seen.append((callee, args, kwargs))

    def _arguments(self, node: cst.Call, state: State) -> tuple[tuple[Value, ...], dict[str, Value]]:
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        for arg in node.args:
            value = self._value(arg.value, state)
            if arg.star == "*":
                if isinstance(value, Container) and value.complete:
                    args.extend(value.items)
                else:
                    args.append(_Star(value))
            elif arg.star == "**":
                kwargs["**"] = value
            elif arg.keyword is not None:
                kwargs[arg.keyword.value] = value
            else:
                args.append(value)
        return tuple(args), kwargs

    def _invoke(self, callee: Value, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call, state: State) -> Value:
        if isinstance(callee, Reference):
            return self._call_reference(callee.qualified, args, kwargs, node, state)
        if isinstance(callee, ClassRef):
            # Any class of this file: a model, or a trainer holding one (``Trainer(Net()).fit()``),
            # whose methods then see the objects it was built with.
            return self.instance_of(callee.cls, self._init_args(callee.cls, args, kwargs), node)
        if isinstance(callee, FunctionRef):
            if callee.bound_self is not None and callee.function.name == "forward":
                return self._forward_call(callee.bound_self, args, node, state)
            return self._call_function(callee.function, args, kwargs, callee.bound_self, node, state)
        if isinstance(callee, Param) and callee.annotation is None and self._param_default(callee) is not None:
            default = self._param_default(callee)
            return self._invoke(default, args, kwargs, node, state)  # type: ignore[arg-type]
        return self._forward_call(callee, args, node, state)

    def _param_default(self, param: Param) -> Optional[Value]:
        """``act_layer=nn.GELU``: a parameter defaulting to a layer class, called to build a layer."""
        for candidate in param.function.params:
            if candidate.name.value == param.name and candidate.default is not None:
                qualified = param.function.scope.parent.resolve(candidate.default) if param.function.scope.parent else None
                if qualified and catalog.layer_op(qualified) is not None:
                    return Reference(qualified)
        return None

    def _forward_call(self, model: Value, args: tuple[Value, ...], node: Optional[cst.CSTNode], state: State) -> Value:
        """A module object (or something used like one) applied to inputs."""
        inputs = tuple(a for a in args if not isinstance(a, _Star))
        mode = self._mode(model, state)
        output = self.apply(model, inputs, node)
        if not isinstance(model, Layer):
            self._event("forward", node, model, mode=mode, output=output, args=inputs)
        elif model.op.kind == "recurrent":
            self._event("recurrent", node, model, output=output, args=inputs)
        return output

    def _mode(self, model: Value, state: State) -> str:
        """train | eval (known here) · caller (a parameter) · self (the model's own submodule) ·
        attr (an attribute of a non-module object) · unknown (differs by branch)."""
        mode = state.modes.get(id(model))
        if mode is not None:
            return mode
        if isinstance(model, Merge):
            modes = {self._mode(option, state) for option in model.options}
            return modes.pop() if len(modes) == 1 else "unknown"
        # The ``self`` of a method on the stack, or something it holds (``self.model.encoder``),
        # also once passed on to a helper function (``_generate(self, ...)``).
        for frame in reversed(self._frames):
            owner = frame.self_value
            if owner is not None and (model is owner or _held_by(owner, model)):
                is_module = isinstance(owner, Instance) and owner.cls is not None and self.sem.is_module_class(owner.cls)
                return "self" if is_module else "attr"
        if isinstance(model, Param):
            return "caller"
        if isinstance(model, Instance):
            return "eval" if model.origin == "pretrained" else "train"
        if isinstance(model, (Container, Layer)):
            return "train"
        return "unknown"

    def _call_reference(self, qualified: str, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call, state: State) -> Value:
        scope = self._frames[-1].scope
        layer = catalog.layer_op(qualified)
        if layer is not None:
            if layer.kind == "container":
                return self._container(layer.family, qualified, args, node)
            bound = bind_arguments(node, layer.params)
            env = {name: value.value for name, value in state.env.items() if isinstance(value, Constant)}
            site = self._instance_sites[-1] if self._instance_sites else None
            value = Layer(layer, qualified, node, scope, bound, env, instance_site=site)
            self.layers.append(value)
            return value
        op = catalog.function_op(qualified)
        if op is not None:
            return self._tensor("function", qualified, tuple(a for a in args if not isinstance(a, _Star)), node, op)
        if qualified in _CLIP_FUNCTIONS:
            self._event("clip", node, args[0] if args else Unknown())
            return self._tensor("call", qualified, (), node)
        if "zero_grad" in qualified.rsplit(".", 1)[-1]:
            # ``zero_grad(model)``, ``utils.optimizer_zero_grad(opt)``: a helper from elsewhere
            # whose name says it clears gradients.
            self._event("zero_grad", node, args[0] if args else Unknown())
            return Constant(None)
        if qualified == "builtins.super":
            return _Super(self._frames[-1].self_value)
        if qualified == "builtins.range":
            count: Value = Unknown()
            folded = [a.value for a in args if isinstance(a, Constant)]
            if len(folded) == len(args) and all(isinstance(v, int) for v in folded) and folded:
                count = Constant(len(range(*folded)))
            return Obj(qualified, node, args, {"count": count})
        if qualified in ("builtins.enumerate", "builtins.zip", "builtins.reversed"):
            return Obj(qualified, node, args)
        if qualified in ("builtins.list", "builtins.tuple") and args:
            elements = self._iteration(args[0])
            return Container("list", elements, node) if elements is not None else Container("list", [], node, complete=False)
        if qualified == "builtins.setattr" and len(args) >= 3:
            owner, name, value = args[0], args[1], args[2]
            if isinstance(owner, Instance) and owner.attrs is not None and isinstance(name, Constant):
                owner.attrs[str(name.value)] = value
            return Constant(None)
        if qualified == "builtins.getattr" and len(args) >= 2 and isinstance(args[1], Constant):
            return self._get_attribute(args[0], str(args[1].value))
        if qualified == "collections.OrderedDict" or qualified == "builtins.dict":
            return self._dict_from(args, kwargs, node)
        if qualified.startswith(_ZOO_PREFIXES):
            # attrs records what the code puts on it (``model.fc = nn.Linear(512, 10)``: a new head)
            return Instance(qualified, node, origin="zoo", attrs={})
        if qualified.endswith(".from_pretrained"):
            return Instance(qualified.rsplit(".", 1)[0], node, origin="pretrained")
        if qualified in ("torch.load", "torch.jit.load", "torch.jit.script", "torch.compile", "torch.nn.DataParallel",
                         "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.DataParallel"):
            if qualified != "torch.load" and qualified != "torch.jit.load" and args:
                return args[0]  # wrappers return (a view of) the same model
            return Instance(None, node, origin="loaded")
        if qualified in _TENSOR_CONSTRUCTORS:
            return self._tensor("fresh", qualified, (), node)
        if qualified == "torch.nn.Parameter":
            return self._tensor("parameter", qualified, tuple(a for a in args[:1] if isinstance(a, Tensor)), node)
        if qualified.startswith("torch.") and not qualified.startswith(("torch.optim", "torch.utils", "torch.cuda.amp", "torch.amp")) and any(
            isinstance(a, (Tensor, Param)) for a in args
        ):
            return self._tensor("function", qualified, tuple(a for a in args if isinstance(a, (Tensor, Param))), node)
        if _looks_like_class(qualified):
            # A class imported from elsewhere (another file of the run, a library): an
            # instance whose contents the project index may know.
            return Instance(qualified, node)
        return Obj(qualified, node, args, kwargs)

    def _container(self, family: str, qualified: str, args: tuple[Value, ...], node: cst.Call) -> Value:
        if family in ("module", ):
            return Unknown()
        kind = {"sequential": "sequential", "module_list": "module_list", "module_dict": "module_dict"}[family]
        container = Container(kind, [], node, qualified=qualified)
        if kind == "sequential":
            if len(args) == 1 and isinstance(args[0], Container) and args[0].keys is not None:
                container.items = list(args[0].items)
                container.keys = list(args[0].keys)
                container.complete = args[0].complete
            else:
                for arg in args:
                    if isinstance(arg, _Star):
                        container.complete = False
                    else:
                        container.items.append(arg)
        elif args:
            source = args[0]
            if isinstance(source, Container):
                container.items = list(source.items)
                container.keys = list(source.keys) if source.keys is not None else None
                container.complete = source.complete
            else:
                container.complete = False
        if kind == "module_dict" and container.keys is None:
            container.keys = []
        self.containers.append(container)
        return container

    def _dict_from(self, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call) -> Value:
        container = Container("dict", [], node, keys=[])
        if args:
            source = args[0]
            if isinstance(source, Container) and source.complete:
                for pair in source.items:
                    if isinstance(pair, Container) and len(pair.items) == 2 and isinstance(pair.items[0], Constant):
                        container.keys.append(pair.items[0].value)  # type: ignore[union-attr]
                        container.items.append(pair.items[1])
                    else:
                        container.complete = False
            else:
                container.complete = False
        for key, value in kwargs.items():
            if key == "**":
                container.complete = False
            else:
                container.keys.append(key)  # type: ignore[union-attr]
                container.items.append(value)
        return container

    def _method(self, receiver: Value, name: str, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call, state: State) -> Value:
        if isinstance(receiver, _Super):
            owner = receiver.owner
            if isinstance(owner, Instance) and owner.cls is not None:
                method = self.sem.find_method(owner.cls, name, skip_self=True)
                if method is not None:
                    return self._call_function(method, args, kwargs, owner, node, state)
            return Unknown()
        if name in ("eval", "train"):
            mode = "eval" if name == "eval" else _train_mode(args, kwargs)
            for option in options_of(receiver):
                state.modes[id(option)] = mode
            self._event("eval" if mode == "eval" else "train", node, receiver, mode=mode)
            return receiver
        if name == "backward":
            self._event("backward", node, receiver)
            return Constant(None)
        if name == "manual_backward" or (name == "backward" and isinstance(receiver, Obj)):
            self._event("backward", node, args[0] if args else Unknown())
            return Constant(None)
        if name == "step" and not _is_scheduler(receiver) and not _scheduler_named(node):
            self._event("step", node, receiver, args=args)
            return Constant(None)
        if name == "zero_grad" or _clears_gradients(node):
            self._event("zero_grad", node, receiver)
            return Constant(None)
        if name in _CLIP_METHODS:
            self._event("clip", node, receiver)
            return Unknown()
        if name == "requires_grad_":
            self._event("requires_grad", node, receiver, args=(args[0] if args else kwargs.get("requires_grad", Constant(True)),))
        if name == "requires_grad_" and isinstance(receiver, AttributeOf) and args and _is_false(args[0]):
            self._freeze(receiver)
            return receiver
        if name == "unscale_":
            self._event("unscale", node, receiver)
            return Constant(None)
        if isinstance(receiver, (Instance, Container, Layer)) or (isinstance(receiver, Param) and _model_like(receiver)):
            if name in _MODE_METHODS_RETURNING_SELF:
                return receiver
            if name in ("parameters", "named_parameters"):
                return Obj("parameters", node, (receiver,))
            if name == "forward" and not isinstance(receiver, Instance):
                return self._forward_call(receiver, args, node, state)
        if isinstance(receiver, Instance):
            if receiver.cls is not None:
                method = self.sem.find_method(receiver.cls, name)
                if method is not None:
                    if name == "forward":
                        return self._forward_call(receiver, args, node, state)
                    return self._call_function(method, args, kwargs, receiver, node, state)
            if name in ("add_module", "register_module") and len(args) >= 2 and isinstance(args[0], Constant) and receiver.attrs is not None:
                receiver.attrs[str(args[0].value)] = args[1]
                return Constant(None)
            if name == "forward":
                return self._forward_call(receiver, args, node, state)
            return Unknown()
        if isinstance(receiver, Container):
            if name == "append" and args:
                receiver.items.append(args[0])
                if receiver.keys is not None:
                    receiver.complete = False
                return Constant(None)
            if name == "extend" and args:
                self._extend(receiver, args[0])
                return Constant(None)
            if name in ("add_module", "register_module") and len(args) >= 2:
                receiver.items.append(args[1])
                if receiver.keys is not None and isinstance(args[0], Constant):
                    receiver.keys.append(args[0].value)
                return Constant(None)
            if name == "items":
                return Obj("dict.items", node, (receiver,))
            if name in ("values", "children", "modules") and receiver.keys is not None:
                return Container("list", list(receiver.items), node, complete=receiver.complete)
            if name in ("insert", "pop", "update", "__setitem__"):
                receiver.complete = False
                return Unknown()
            if name == "copy":
                return Container(receiver.kind, list(receiver.items), node, list(receiver.keys) if receiver.keys else None, receiver.complete)
            return Unknown()
        if isinstance(receiver, Obj) and receiver.qualified.endswith("GradScaler") and name == "scale" and args:
            return self._tensor("method", "scale", (args[0],), node)
        op = catalog.METHODS.get(name)
        if isinstance(receiver, (Tensor, Param, Unknown, Merge)) and op is not None:
            return self._tensor("method", name, (receiver,) + tuple(a for a in args if isinstance(a, Tensor)), node, op)
        if isinstance(receiver, (Tensor, Param)):
            return self._tensor("method", name, (receiver,) + tuple(a for a in args if isinstance(a, Tensor)), node)
        return Unknown()

    def _call_function(self, function: FunctionInfo, args: tuple[Value, ...], kwargs: dict[str, Value],
                       self_value: Optional[Value], node: Optional[cst.CSTNode], state: Optional[State]) -> Value:
        if len(self._stack) >= MAX_INLINE_DEPTH or function in self._stack:
            return Unknown()
        bound = _bind_call(function, args, kwargs, skip_self=self_value is not None)
        result = self._inline(function, bound, self_value, None, state.modes if state is not None else None)
        return result if result is not None else Unknown()

    def _inline(self, function: FunctionInfo, args: dict[str, Value], self_value: Optional[Value],
                frame: Optional[_Frame], modes: Optional[dict[int, str]] = None) -> Optional[Value]:
        """Evaluate a same-file function with the given arguments; returns its return value.

        ``modes`` is the caller's record of which models are in eval mode: shared, so a helper
        that calls ``model.eval()`` changes what the caller sees afterwards.
        """
        caller = self._frames[-1] if self._frames else None
        if frame is None:
            frame = _Frame(
                function,
                function.scope,
                self_value,
                [],
                function.no_grad or (caller.no_grad if caller else False),
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

    def _bind_params(self, function: FunctionInfo, args: dict[str, Value], self_value: Optional[Value]) -> dict[str, Value]:
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
                if folded is not UNKNOWN and not (annotation is None and _model_like_name(name)):
                    env[name] = _ParamWithDefault(name, function, annotation, folded)
                    continue
            env[name] = Param(name, function, annotation)
        return env

    def _init_args(self, cls: ClassInfo, args: tuple[Value, ...], kwargs: dict[str, Value]) -> dict[str, Value]:
        init = self.sem.find_method(cls, "__init__")
        if init is None:
            return {}
        return _bind_call(init, args, kwargs, skip_self=True)

    # records --------------------------------------------------------------------------------

    def _freeze(self, parameter: AttributeOf) -> None:
        owner, name = parameter.path
        self.frozen.add((id(owner), name))

    def _tensor(self, kind: str, target: Any, inputs: tuple[Value, ...], node: Optional[cst.CSTNode], op: Optional[catalog.Op] = None) -> Tensor:
        tensor = Tensor(kind, target, inputs, node, op)
        self.tensors.append(tensor)
        if self._frames and self._frames[-1].no_grad:
            self.no_grad_tensors.add(id(tensor))
        return tensor

    def _event(self, kind: str, node: Optional[cst.CSTNode], target: Value, **extra: Any) -> None:
        if self._trace is None or node is None:
            return
        frame = self._frames[-1]
        site = self.sem.site_of(node) if isinstance(node, cst.Call) else None
        no_grad = frame.no_grad or bool(site and site.no_grad)
        self._trace.events.append(
            Event(kind, node, target, site, no_grad, frame.iterations, frame.conditional > 0, tuple(self._stack), **extra)
        )

    def _is_no_grad(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        qualified = self._frames[-1].scope.resolve(expr.func)
        if qualified == "torch.set_grad_enabled":
            return bool(expr.args) and isinstance(expr.args[0].value, cst.Name) and expr.args[0].value.value == "False"
        return qualified in catalog.NO_GRAD_CONTEXTS


_LITERAL_NAMES = {"True": True, "False": False, "None": None}


class _BudgetExceeded(Exception):
    pass


class _Star(Value):
    """A ``*args`` argument whose elements are unknown."""

    __slots__ = ("value",)

    def __init__(self, value: Value) -> None:
        self.value = value


class _Super(Value):
    __slots__ = ("owner",)

    def __init__(self, owner: Optional[Value]) -> None:
        self.owner = owner


class _ParamWithDefault(Constant):
    """A parameter with a literal default: folds to the default unless a caller says otherwise."""

    __slots__ = ("name", "function", "annotation")

    def __init__(self, name: str, function: FunctionInfo, annotation: Optional[str], default: Any) -> None:
        super().__init__(default)
        self.name = name
        self.function = function
        self.annotation = annotation


_NOT_MODEL_MODULES = ("torch.", "builtins.", "collections.", "typing.", "dataclasses.", "numpy.", "pathlib.", "logging.", "argparse.")


def _looks_like_class(qualified: str) -> bool:
    """``models.CharLSTM``: a CamelCase name imported from a module that is not a known library
    of non-model classes (optimizers, datasets, containers)."""
    name = qualified.rsplit(".", 1)[-1]
    return "." in qualified and name[:1].isupper() and not qualified.startswith(_NOT_MODEL_MODULES)


def _element_of(iterable: Value, target: cst.BaseAssignTargetExpression) -> Value:
    """What a for-loop variable holds when the elements are unknown: for ``model.parameters()``
    (``for name, p in model.named_parameters()``), one of that model's parameters."""
    if isinstance(iterable, Obj) and iterable.qualified == "parameters" and iterable.args:
        named = isinstance(iterable.node, cst.Call) and isinstance(iterable.node.func, cst.Attribute) and (
            iterable.node.func.attr.value == "named_parameters"
        )
        if not named:
            return ParameterOf(iterable.args[0])
        if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
            return Container("list", [Unknown(), ParameterOf(iterable.args[0])], None)
    return Unknown()


def _is_false(value: Value) -> bool:
    return isinstance(value, Constant) and value.value is False


def _train_mode(args: tuple[Value, ...], kwargs: dict[str, Value]) -> str:
    flag = args[0] if args else kwargs.get("mode")
    if flag is None:
        return "train"
    if isinstance(flag, Constant) and isinstance(flag.value, bool):
        return "train" if flag.value else "eval"
    return "unknown"


def _held_by(owner: Value, value: Value) -> bool:
    """Whether ``value`` (every option of it, when it is one of several) is one of
    ``owner``'s attributes or inside one of its containers — ``self.dropouts[i]``."""
    missing = {id(option) for option in options_of(value)}
    if not missing:
        return True
    seen: set[int] = set()
    stack: list[tuple[Value, int]] = [(owner, 0)]
    while stack:  # stops at the first proof: a big model's object graph is walked per call
        current, depth = stack.pop()
        if depth > 4:
            continue
        if isinstance(current, Instance) and current.attrs:
            children = current.attrs.values()
        elif isinstance(current, Container):
            children = current.items
        elif isinstance(current, Merge):
            children = current.options
        else:
            continue
        for child in children:
            key = id(child)
            if key in seen:
                continue
            if child is value:
                return True
            seen.add(key)
            missing.discard(key)
            if not missing:
                return True
            stack.append((child, depth + 1))
    return False


def _clears_gradients(call: cst.Call) -> bool:
    """``p.grad.zero_()``, ``p.grad.data.zero_()``, ``p.grad.fill_(0)``, ``self.optimizer_zero_grad()``:
    a call that clears gradients without being a plain ``zero_grad()``."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return False
    if "zero_grad" in func.attr.value:
        return True
    if func.attr.value not in ("zero_", "fill_"):
        return False
    receiver = func.value
    if isinstance(receiver, cst.Attribute) and receiver.attr.value == "data":
        receiver = receiver.value
    return isinstance(receiver, cst.Attribute) and receiver.attr.value == "grad"


def _is_scheduler(receiver: Value) -> bool:
    if isinstance(receiver, Obj):
        return "sched" in receiver.qualified.lower() or receiver.qualified.endswith(("Scheduler", "LR"))
    if isinstance(receiver, Param):
        return "sched" in receiver.name.lower()
    return False


def _scheduler_named(call: cst.Call) -> bool:
    """``self.lr_scheduler.step()``, ``scheduler.step()``: a step whose receiver is named as a
    learning-rate scheduler (whatever value the evaluator has for it)."""
    func = call.func
    receiver = func.value if isinstance(func, cst.Attribute) else None
    if isinstance(receiver, cst.Attribute):
        receiver = receiver.attr
    return isinstance(receiver, cst.Name) and "sched" in receiver.value.lower()


def _model_like_name(name: str) -> bool:
    """``model``, ``ema_model``, ``self.net``, ``resnet``, ``text_encoder`` — but not
    ``datamodule_cls`` or ``netloc``: whole words of a snake_case/camelCase name."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower())
    if any(word in _NOT_A_MODEL_WORDS for word in words):
        return False  # model_cls, get_model, model_path: a class, a factory, a name — not a model
    return any(word in _MODEL_LIKE_WORDS or (word.endswith(("net", "model")) and len(word) >= 4) for word in words)


def _model_like(param: Param) -> bool:
    if param.annotation and param.annotation in catalog.MODULE_BASES:
        return True
    return _model_like_name(param.name)


def _constant_key(value: Value) -> Any:
    if isinstance(value, Constant):
        try:
            hash(value.value)
            return ("c", value.value)
        except TypeError:
            return ("v", id(value))
    return ("v", id(value))


def _for_clauses(clause: Optional[cst.CompFor]) -> Iterable[cst.CompFor]:
    while clause is not None:
        yield clause
        clause = clause.inner_for_in


def _bind_positional(function: FunctionInfo, inputs: tuple[Value, ...]) -> dict[str, Value]:
    params = [p.name.value for p in function.params]
    if function.self_name and params and params[0] == function.self_name:
        params = params[1:]
    return dict(zip(params, inputs))


def _bind_call(function: FunctionInfo, args: tuple[Value, ...], kwargs: dict[str, Value], *, skip_self: bool) -> dict[str, Value]:
    params = [p.name.value for p in function.params]
    if skip_self and params:
        params = params[1:]
    bound: dict[str, Value] = {}
    for name, value in zip(params, args):
        if isinstance(value, _Star):
            break
        bound[name] = value
    for name, value in kwargs.items():
        if name in params:
            bound[name] = value
    return bound


