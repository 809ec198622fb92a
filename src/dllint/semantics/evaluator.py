"""An abstract interpreter over function bodies: the one place that knows what code *does*.

It follows values through local variables, branches (``paths.py``: decided, chosen per run,
or merged), loops (unrolled a few times, so "the next epoch" is visible), same-file helper
functions and methods (inlined with their callers' arguments, ``contexts.py``), the
``__init__``/``forward`` of model classes (once per configuration), and what library calls do
(``library.py``). As it goes it records:

* the dataflow graph of tensors (:class:`~dllint.semantics.values.Tensor`) — which layer
  feeds which, what a model returns, what reaches a loss;
* every layer and container it constructs, with the constants its arguments depend on;
* a trace of :class:`~dllint.semantics.trace.Event`s per path — forward calls of models with
  the model's train/eval mode at that moment (``modes.py``), ``backward``, optimizer
  ``step``/``zero_grad``, gradient clipping, ``eval()``/``train()`` — with their context
  (inside ``no_grad``, which loop iteration).

Everything is bounded (a statement budget per root, an inlining depth, a number of paths) so
a huge file costs linear time and never hangs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional

import libcst as cst

from dllint.semantics import catalog
from dllint.semantics.arrays import Arrays
from dllint.semantics.config_values import ConfigMixin, ConfigState, Record, derived_constant, output_field, user_choice
from dllint.semantics.candidates import CandidatesMixin
from dllint.semantics.checkpoints import Checkpoints
from dllint.semantics.constants import UNKNOWN, arithmetic, fold
from dllint.semantics.contexts import (
    MAX_INLINE_DEPTH,
    STATEMENT_BUDGET,
    BudgetExceeded,
    ContextsMixin,
    bind_positional,
)
from dllint.semantics.frameworks import ACCUMULATE, Driver, FrameworksMixin
from dllint.semantics.grad_clipping import rescales_gradients
from dllint.semantics.grad_mode import grad_mode_statement, grad_switch
from dllint.semantics.library import ExternalCall, LibraryMixin
from dllint.semantics.modes import ModesMixin, submodules
from dllint.semantics.naming import NamingMixin, string_operation
from dllint.semantics.paths import MAX_LOOP_UNROLL, Choices, Frame, PathsMixin, State, truth
from dllint.semantics.scopes import ClassInfo, FunctionInfo, Scope
from dllint.semantics.trace import Event, Trace
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
    Starred,
    Tensor,
    Unknown,
    Value,
    merge,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics

__all__ = ["Evaluator", "Event", "Trace"]

MAX_APPLIED_OPTIONS = 4


class Evaluator(PathsMixin, ContextsMixin, LibraryMixin, FrameworksMixin, ModesMixin, CandidatesMixin, NamingMixin, ConfigMixin):
    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self.layers: list[Layer] = []
        self.arrays = Arrays()  # shapes of NumPy arrays built with constant sizes
        self.containers: list[Container] = []
        # Ids of the Sequentials and instances that a model's forward graph went all through
        # (recorded while ``FileSemantics.forward_graphs`` builds them, not in other roots).
        self.applied_in_full: set[int] = set()
        self.recording_applications = False
        self.tensors: list[Tensor] = []
        self._instances: dict[tuple, Value] = {}
        self._module_values: dict[str, Value] = {}
        self._module_value_modes: dict[str, dict] = {}  # the modes each module-level assignment set
        self._resolving_globals: set[str] = set()
        self._budget = STATEMENT_BUDGET
        self._trace: Optional[Trace] = None
        # What reached each call: (callee or receiver, positional args, keyword args), per evaluation.
        self.observed: dict[int, list[tuple[Value, tuple[Value, ...], dict[str, Value]]]] = {}
        # When each of those was reached: a clock that ticks at every call evaluated, so that the
        # writes to one parameter can be put in the order they run (``semantics/writes.py``).
        self.observed_at: dict[int, list[int]] = {}
        self.clock = 0
        # ``layer.weight = nn.Parameter(t)``, ``w.data = t``, ``w.requires_grad = True``:
        # (owner, attribute, value, target, clock)
        self.tensor_assignments: list[tuple[Value, str, Value, cst.CSTNode, int]] = []
        self._instance_sites: list[cst.CSTNode] = []
        self._call_nodes: list[cst.Call] = []  # the same-file calls being inlined, innermost last
        self._building: list[ClassInfo] = []  # classes whose __init__ is being evaluated
        self._building_instances: list[Instance] = []  # the instances those evaluations build
        # Where each configuration of a class was built (by its key): ``ROOT`` (code that runs:
        # the module body, a function), ``STANDALONE`` (the class judged on its own, with its
        # defaults) or the instance whose ``__init__`` built it; and the instance whose
        # ``__init__`` built each layer (by id; absent: built by code that runs).
        self.built_from: dict[tuple, list] = {}
        self.configuration_key: dict[int, tuple] = {}
        self.layer_builder: dict[int, Instance] = {}
        # (id of layer, parameter name) of parameters frozen with requires_grad = False
        self.frozen: set[tuple[int, str]] = set()
        self.thawed: set[int] = set()  # ids of layers whose parameters some code sets trainable again
        # ids of the tensors computed while gradient recording was off (``torch.no_grad()``)
        self.no_grad_tensors: set[int] = set()
        # Every ``x.detach_()`` evaluated, with its receiver (all evaluations, none left out).
        self.detached_in_place: list[tuple[cst.CSTNode, Value]] = []
        self._stack: list[FunctionInfo] = []
        self._frames: list[Frame] = []
        self._choices: Optional[Choices] = None  # the arms the current root's run takes
        self._structural: dict[int, bool] = {}  # per branch node: do its arms build modules?
        self._loop_targets: dict[int, frozenset[str]] = {}  # per loop node: the names it assigns
        self._configurations: dict[int, list[Instance]] = {}  # per class: the instances built
        self._mode_clock = 0  # orders eval()/train() calls: the latest one wins
        # per class of this file (id): the arguments of each call that built one, in order
        self.constructions: dict[int, list[tuple[tuple[Value, ...], dict[str, Value], cst.Call]]] = {}
        self._accumulating = 0  # inside ``with accelerator.accumulate(model):`` (steps gated by the optimizer)
        self.engines: dict[int, Driver] = {}  # per model (id): the DeepSpeed engine that wraps it
        self.lightning_optimizers: dict[int, list[Value]] = {}  # per Lightning module (id): configure_optimizers
        self.escaped: set[int] = set()  # ids of tensors returned, stored or passed out (_escape)
        self._module_state: Optional[State] = None  # the module body's path while it runs
        self._partial_loops: set[int] = set()  # loops being unrolled for fewer iterations than they run
        self._loop_iterables: dict[int, Value] = {}  # per loop node: what it iterates over (this pass)
        self.saved: list[tuple[str, str]] = []  # (checkpoint path, model class) of torch.save(model, path)
        self.checkpoints = Checkpoints(self)  # what torch.load gives back (checkpoints.py)
        self.external_calls: list[ExternalCall] = []  # calls of functions that other files may define
        self.not_inlined: list[tuple[Value, ...]] = []  # the arguments of same-file calls not followed (too deep)
        self._config = ConfigState()  # argparse parsers and class attributes (config_values.py)

    def run_module(self) -> list[Trace]:
        """The module body, once per path."""
        module = self.sem.info

        def run(choices: Choices) -> Trace:
            frame = Frame(None, module.scope, None, [], False)
            state = State({})
            previous, self._module_state = self._module_state, state
            try:
                return self._run_root(None, frame, module.node.body, state, choices)
            finally:
                self._module_state = previous

        return self._explore(run)

    def run_function(self, function: FunctionInfo, self_value: Optional[Value] = None,
                     args: Optional[dict[str, Value]] = None) -> list[Trace]:
        """A function as a root (its parameters bound to ``args``, else to their defaults or
        to unknown values), once per path."""

        def run(choices: Choices) -> Trace:
            state = State(self._bind_params(function, args or {}, self_value))
            if self_value is not None and function.self_name:
                state.env[function.self_name] = self_value
            under_no_grad = self._framework_entry(function, self_value, state)
            frame = Frame(function, function.scope, self_value, [], under_no_grad if function.no_grad is None else function.no_grad)
            return self._run_root(function, frame, function.node.body, state, choices)

        return self._explore(run, choosing=self._builds_models(function))

    def _builds_models(self, function: FunctionInfo) -> bool:
        """Whether a function constructs layers or model classes of this file (its paths
        then matter), as opposed to training, evaluating or loading weights."""
        known = self._structural.get(id(function))
        if known is None:
            known = self._structural[id(function)] = any(
                site.qualified is not None and (catalog.layer_op(site.qualified) is not None or self.sem.local_class(site.qualified) is not None)
                for site in function.calls
            )
        return known

    def _run_root(self, function: Optional[FunctionInfo], frame: Frame, body, state: State, choices: Choices) -> Trace:
        trace = Trace(function)
        start = len(self.tensors)
        previous = (self._trace, self._budget, self._stack, self._frames)
        self._trace, self._budget, self._stack, self._frames = trace, STATEMENT_BUDGET, [function] if function else [], [frame]
        try:
            if isinstance(body, cst.BaseSuite):
                self._block(body, state)
            else:
                self._statements(body, state)
        except BudgetExceeded:
            trace.complete = False
        finally:
            trace.returns = frame.returns
            trace.path = choices.describe()
            trace.span = (start, len(self.tensors))
            self._trace, self._budget, self._stack, self._frames = previous
        return trace

    def apply_alone(self, module: Value, node: Optional[cst.CSTNode]) -> tuple[Optional[Value], list[Tensor]]:
        """Apply a module object on its own to an input, as a root of its own (with its own
        statement budget): its output (None when the budget ran out) and the tensors it computed."""
        start = len(self.tensors)
        previous = (self._trace, self._budget, self._stack, self._frames)
        self._trace, self._budget, self._stack = None, STATEMENT_BUDGET, []
        self._frames = [Frame(None, self.sem.info.scope, None, [], False)]
        try:
            output = self.apply(module, (), node)
        except BudgetExceeded:
            output = None
        finally:
            self._trace, self._budget, self._stack, self._frames = previous
        return output, self.tensors[start:]

    def apply(self, module: Value, inputs: tuple[Value, ...], node: Optional[cst.CSTNode]) -> Value:
        """Apply a module object to input tensors (a forward pass through it)."""
        if isinstance(module, Merge):
            if len(module.options) > MAX_APPLIED_OPTIONS:
                return Unknown()
            if len(self._stack) > 1 and all(isinstance(option, Instance) for option in module.options):
                # The paths of a submodule inside another model's forward: each has its own
                # forward graph; here its first path stands for all (nested paths multiply).
                return self.apply(module.options[0], inputs, node)
            result: Value = self.apply(module.options[0], inputs, node)
            for option in module.options[1:]:
                result = merge(result, self.apply(option, inputs, node))
            return result
        if isinstance(module, Layer):
            return self._tensor("module", module, inputs, node)
        if isinstance(module, Container) and module.kind == "sequential":
            current: Value = inputs[0] if inputs else self._tensor("input", None, (), None)
            for item in module.items:
                current = self.apply(item, (current,), node)
            if not module.complete:
                current = self._tensor("call", None, (current,), node)
            if self.recording_applications:
                self.applied_in_full.add(id(module))
            return current
        if isinstance(module, Instance) and module.cls is not None and len(self._stack) < MAX_INLINE_DEPTH:
            forward = self.sem.find_method(module.cls, "forward")
            if forward is not None and self.sem.is_module_class(module.cls):
                if module.attrs is None:
                    module.attrs = {}
                args = bind_positional(forward, inputs)
                result = self._inline(forward, args, module, None)
                if result is not None:
                    if self.recording_applications:
                        self.applied_in_full.add(id(module))
                    return result
        return self._tensor("module", module, inputs, node)

    def _statements(self, statements: Iterable[cst.CSTNode], state: State) -> None:
        for statement in statements:
            if state.returned:
                return
            self._statement(statement, state)

    def _statement(self, node: cst.CSTNode, state: State) -> None:
        self._budget -= 1
        if self._budget < 0:
            raise BudgetExceeded
        node_type = type(node)  # exact types: see _value
        if node_type is cst.SimpleStatementLine:
            for small in node.body:
                self._small(small, state)
        elif node_type is cst.If:
            self._if(node, state)
        elif node_type in (cst.For, cst.While):
            self._loop(node, state)
        elif node_type is cst.With:
            frame = self._frames[-1]
            saved = frame.no_grad
            gated = 0  # ``with accelerator.accumulate(model):``: steps on accumulation boundaries only
            for item in node.items:
                value = self._value(item.item, state)
                switch = grad_switch(item.item, frame.scope)
                if switch is not None:
                    frame.no_grad = switch
                if isinstance(value, Obj) and value.qualified == ACCUMULATE:
                    gated += 1
                if item.asname is not None:
                    self._assign(item.asname.name, value, state)
            self._accumulating += gated
            try:
                self._block(node.body, state)
            finally:
                frame.no_grad = saved
                self._accumulating -= gated
        elif node_type in (cst.Try, cst.TryStar):
            self._try(node, state)
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
        if type(block) is cst.SimpleStatementSuite:
            for small in block.body:
                self._small(small, state)
        else:
            self._statements(block.body, state)

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
            if rescales_gradients(node, self._frames[-1].scope, self._enclosing_loops(node)):
                self._event("clip", node, left)
        elif node_type is cst.Expr:
            self._value(node.value, state)
            self._switch_grad_mode(node)
        elif node_type is cst.Return:
            frame = self._frames[-1]
            value = self._value(node.value, state) if node.value is not None else Constant(None)
            frame.returns.append(value)
            if not self._is_model(frame.self_value):
                self._escape(value)  # a function's result (a model's forward returns its own output)
            state.returned = True
        elif node_type is cst.Raise:
            state.returned = True
        elif node_type in (cst.Import, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                state.env.pop(alias.evaluated_alias or alias.evaluated_name.split(".")[0], None)

    def _switch_grad_mode(self, statement: cst.Expr) -> None:
        """``torch.set_grad_enabled(flag)`` alone on its line: the mode of the statements after
        it (unless it sits under an ``if``: then only the statements after it in that branch,
        which the static pass records on their call sites)."""
        frame = self._frames[-1]
        switch = grad_mode_statement(statement, frame.scope)
        site = self.sem.site_of(statement.value) if switch is not None and isinstance(statement.value, cst.Call) else None
        if site is not None and not site.guards:
            frame.no_grad = switch

    def _assign(self, target: cst.CSTNode, value: Value, state: State) -> None:
        if type(target) is cst.Name:
            state.env[target.value] = value
        elif type(target) in (cst.Tuple, cst.List):
            elements = target.elements
            items = value.items if isinstance(value, Container) and value.complete and len(value.items) == len(elements) else None
            for index, element in enumerate(elements):
                item = items[index] if items is not None else self._unpack(value, index)
                self._assign(element.value, item, state)
        elif type(target) is cst.StarredElement:
            self._assign(target.value, Unknown(), state)
        elif isinstance(target, cst.Attribute):
            owner = self._value(target.value, state)
            if isinstance(owner, Instance) and owner.attrs is not None:
                owner.attrs[target.attr.value] = value
            elif isinstance(owner, Record):
                owner.fields[target.attr.value] = value
            elif isinstance(owner, AttributeOf) and target.attr.value == "requires_grad" and _is_false(value):
                self._freeze(owner)
            elif (
                isinstance(owner, ParameterOf) and target.attr.value == "requires_grad" and _is_false(value)
                and self._frames[-1].conditional == 0 and self._unconditional_in_loop(target)
            ):
                self._freeze_all(owner.model)
            elif isinstance(owner, ParameterOf) and target.attr.value == "requires_grad" and not _is_false(value):
                # ``p.requires_grad = True`` over a model's parameters (a GAN's discriminator,
                # frozen for the generator's step and thawed for its own): it is trained.
                self.thawed.update(id(layer) for layer in self._layers_of(owner.model))
            if isinstance(owner, (Layer, AttributeOf, Tensor)) and target.attr.value != "grad":
                self.clock += 1
                self.tensor_assignments.append((owner, target.attr.value, value, target, self.clock))
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
            elif isinstance(owner, Container) and owner.kind == "list":
                self._set_item(owner, target, value, state)

    def _set_item(self, owner: Container, target: cst.Subscript, value: Value, state: State) -> None:
        """``seq[i] = seq[i] + "P" * pad``: the list holds the new element from now on (under a
        condition, either); at an index not known, its elements are no longer known."""
        part = target.slice[0].slice if len(target.slice) == 1 else None
        index = self._value(part.value, state) if isinstance(part, cst.Index) else None
        self.arrays.changed(owner)
        if (
            isinstance(index, Constant) and isinstance(index.value, int) and not isinstance(index.value, bool)
            and owner.complete and -len(owner.items) <= index.value < len(owner.items)
        ):
            conditional = self._frames[-1].conditional > 0
            owner.items[index.value] = merge(owner.items[index.value], value) if conditional else value
        else:
            owner.complete = False

    def _unpack(self, value: Value, index: int) -> Value:
        item = self._config_item(value, Constant(index))
        if item is not None:
            return item
        if isinstance(value, Tensor):
            return self._tensor("subscript", index, (value,), value.node)  # ``logits, aux = model(x)``
        return Unknown()

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
                if type(element) is cst.StarredElement:
                    self._extend(container, value)
                else:
                    container.items.append(value)
            if len(container.items) == len(expr.elements):
                self.arrays.listed(container, container.items, len(container.items))
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
            if type(expr.operator) is cst.Not:
                known = truth(operand)
                return derived_constant(not known, operand) if known is not None else Unknown()
            if isinstance(operand, Constant):
                folded = _UNARY[type(expr.operator)](operand.value)
                return derived_constant(folded, operand) if folded is not UNKNOWN else Unknown()
            if isinstance(operand, Tensor):
                return self._tensor("unary", type(expr.operator).__name__, (operand,), expr)
            return Unknown()
        if expr_type is cst.IfExp:
            return self._if_expression(expr, state)
        if expr_type is cst.Subscript:
            return self._subscript(expr, state)
        if expr_type in (cst.ListComp, cst.GeneratorExp, cst.SetComp):
            return self._comprehension(expr, state)
        if expr_type is cst.DictComp:
            return self.dict_comprehension(expr, state)
        if expr_type is cst.NamedExpr:
            value = self._value(expr.value, state)
            self._assign(expr.target, value, state)
            return value
        if expr_type is cst.Comparison:
            return self._comparison(expr, state)
        if expr_type is cst.BooleanOperation:
            return self._boolean(expr, state)
        if expr_type in (cst.Await,):
            return self._value(expr.expression, state)
        if expr_type is cst.Lambda:
            return Unknown()
        if expr_type is cst.FormattedString:
            return self._formatted_string(expr, state)
        return Unknown()

    def _formatted_string(self, expr: cst.FormattedString, state: State) -> Value:
        """``f"fc{i}"`` with ``i`` known: the string (names built in loops, ``setattr(self, f"fc{i}", …)``)."""
        text: Optional[list[str]] = []
        for part in expr.parts:
            if isinstance(part, cst.FormattedStringExpression):
                value = self._value(part.expression, state)
                if text is not None and isinstance(value, Constant) and part.format_spec is None and part.conversion is None:
                    text.append(str(value.value))
                else:
                    text = None
            elif text is not None:
                text.append(part.value)
        return Constant("".join(text)) if text is not None else Unknown()

    def _name(self, name: str, state: State) -> Value:
        if name in state.env:
            return state.env[name]
        if name in _LITERAL_NAMES:
            return Constant(_LITERAL_NAMES[name])
        scope = self._frames[-1].scope
        module = self._module_state
        if module is not None and name in module.env and self._owned_by_module(scope, name):
            # A helper called from the module body sees the module's variables as they are
            # now (``def reset_grad(): d_optimizer.zero_grad()`` clears *that* optimizer).
            return module.env[name]
        return self._global(name, scope, state)

    def _global(self, name: str, scope: Scope, state: Optional[State] = None) -> Value:
        """A name not bound by the code evaluated so far: an import, a class, a def, a module-level value.
        A module-level value comes with the mode its own assignment put it in
        (``detection = maskrcnn_resnet50_fpn(weights=...).eval()``), recorded on ``state``."""
        bindings = scope.lookup(name)
        if bindings is None:
            qualified = scope.module.resolve_name(name, scope)
            return Reference(qualified) if qualified else Unknown()
        if len(bindings) != 1:
            qualified = scope.module.resolve_name(name, scope)
            return Reference(qualified) if qualified else Unknown()
        binding = bindings[0]
        if binding.kind == "class":
            cls = self.sem.class_of(binding.node)
            return ClassRef(cls) if cls is not None else Unknown()
        if binding.kind == "def":
            function = self.sem.function_of(binding.node)
            return FunctionRef(function) if function is not None else Unknown()
        if binding.kind == "import":
            return self._imported(catalog.canonical(binding.qualified)) if binding.qualified else Unknown()
        if binding.kind == "assign" and binding.value is not None:
            key = f"{id(binding)}"
            if key not in self._module_values:
                if key in self._resolving_globals or not self._owned_by_module(scope, name):
                    return Unknown()
                self._resolving_globals.add(key)
                assigned = State({})
                try:
                    frame = Frame(None, self.sem.info.scope, None, [], False)
                    self._frames.append(frame)
                    try:
                        value = self._value(binding.value, assigned)
                    finally:
                        self._frames.pop()
                finally:
                    self._resolving_globals.discard(key)
                self._module_values[key] = value
                self._module_value_modes[key] = assigned.modes
            if state is not None:
                for model, stamp in self._module_value_modes[key].items():
                    state.modes.setdefault(model, stamp)
            return self._module_values[key]
        return Unknown()

    def _owned_by_module(self, scope: Scope, name: str) -> bool:
        return name in self.sem.info.scope.bindings and scope.lookup(name) is self.sem.info.scope.bindings[name]

    def _attribute(self, expr: cst.Attribute, state: State) -> Value:
        owner = self._value(expr.value, state)
        name = expr.attr.value
        if output_field(owner, name):
            return self._tensor("subscript", name, (owner,), expr)  # ``model(x).logits``
        return self._get_attribute(owner, name)

    def _get_attribute(self, owner: Value, name: str) -> Value:
        if isinstance(owner, Reference):
            return self._imported(catalog.canonical(f"{owner.qualified}.{name}"))
        if isinstance(owner, Instance):
            if owner.attrs is not None and name in owner.attrs:
                return owner.attrs[name]
            if owner.cls is not None:
                method = self.sem.find_method(owner.cls, name)
                if method is not None:
                    if "builtins.property" in method.decorators:
                        return self._call_function(method, (), {}, owner, None, None)
                    return FunctionRef(method, owner)
                return self._class_attribute(owner.cls, name) or Unknown()
            return AttributeOf(owner, name)
        if isinstance(owner, (Layer, Param, AttributeOf)):
            return AttributeOf(owner, name)
        if isinstance(owner, Tensor) and name in _TENSOR_VIEWS:
            return self._tensor("method", name, (owner,), None)
        if isinstance(owner, ClassRef):
            method = self.sem.find_method(owner.cls, name)
            return FunctionRef(method) if method is not None else self._class_attribute(owner.cls, name) or Unknown()
        if isinstance(owner, Record):
            return owner.field(name)
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
        item = self._config_item(owner, index)
        if item is not None:
            return item
        if isinstance(owner, Constant) and isinstance(owner.value, (tuple, list, str)):
            part = self._constant_part(owner.value, expr.slice[0].slice, index, state) if len(expr.slice) == 1 else None
            if part is not None:
                return part
            folded = fold(expr, self._frames[-1].scope, state.constants_named_in(expr))
            return Constant(folded) if folded is not UNKNOWN else Unknown()
        if isinstance(owner, Container):
            chosen = self.chosen_item(owner, Unknown()) if user_choice(index) else None
            if chosen is not None:
                return chosen
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
            return self.chosen_item(owner, index) or Unknown()
        if isinstance(owner, (Tensor, Param)):
            key = index.value if isinstance(index, Constant) and isinstance(index.value, (str, int)) else None
            return self._tensor("subscript", key, (owner,), expr)  # the key tells ``out["probs"]`` from ``out["logits"]``
        if isinstance(owner, Obj) and self.arrays.shape(owner) is not None:
            part = Obj("numpy.ndarray.__getitem__", expr, (owner,))
            scope = self._frames[-1].scope
            self.arrays.subscript(owner, expr, lambda e: fold(e, scope, state.constants_named_in(e)), part, index)
            return part
        return self.any_of(owner, index) or Unknown()

    def _constant_part(self, sequence: Any, part: cst.BaseSlice, index: Value, state: State) -> Optional[Constant]:
        """``words[-1]``, ``"i like dog".split()[:-1]``: an item or slice of a known sequence."""
        if isinstance(part, cst.Index):
            position = index.value if isinstance(index, Constant) else None
            if isinstance(position, int) and not isinstance(position, bool) and -len(sequence) <= position < len(sequence):
                return Constant(sequence[position])
            return None
        bounds = []
        for bound in (part.lower, part.upper, part.step):  # type: ignore[attr-defined]
            value = self._value(bound, state) if bound is not None else Constant(None)
            if not isinstance(value, Constant) or isinstance(value.value, bool) or not (value.value is None or isinstance(value.value, int)):
                return None
            bounds.append(value.value)
        if bounds[2] == 0:
            return None
        return Constant(sequence[slice(*bounds)])

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

    def _binary(self, operator: str, left: Value, right: Value, node: cst.CSTNode) -> Value:
        formatted = string_operation(operator, left, right)
        if formatted is not None:
            return formatted
        if isinstance(left, Constant) and isinstance(right, Constant):
            folded = arithmetic(operator, left.value, right.value)
            return derived_constant(folded, left, right) if folded is not UNKNOWN else Unknown()
        if operator == "Add" and isinstance(left, Container) and isinstance(right, Container):
            joined = Container("list", left.items + right.items, node, complete=left.complete and right.complete)
            self.arrays.joined(joined, left, right)
            return joined
        if operator == "Multiply" and isinstance(left, Container) and isinstance(right, Constant) and isinstance(right.value, int):
            repeated = Container("list", left.items * min(right.value, MAX_LOOP_UNROLL), node, complete=right.value <= MAX_LOOP_UNROLL)
            self.arrays.repeated(repeated, left, right)
            return repeated
        if any(isinstance(v, (Tensor, Param, Unknown, Merge)) for v in (left, right)):
            return self._tensor("binop", operator, (left, right), node)
        return Unknown()

    def _extend(self, container: Container, value: Value) -> None:
        if isinstance(value, Container) and value.kind not in ("dict", "module_dict"):
            container.items.extend(value.items)
            container.complete = container.complete and value.complete
        else:
            container.complete = False

    def _call(self, node: cst.Call, state: State) -> Value:
        func = node.func
        if type(func) is cst.Attribute:
            receiver = self._value(func.value, state)
            name = func.attr.value
            held = any(
                isinstance(option, Instance) and option.attrs is not None and name in option.attrs
                for option in options_of(receiver)
            )
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

    def _is_model(self, value: Optional[Value]) -> bool:
        return any(
            isinstance(option, Instance) and option.cls is not None and self.sem.is_module_class(option.cls)
            for option in options_of(value)
        ) if value is not None else False

    def _escape(self, value: Value) -> None:
        """Record tensors that leave the computation: returned by a function, stored in a
        list, handed to a function outside this file (a metric) — a model output that does
        is used (as a prediction), not just looked at."""
        for option in options_of(value):
            if isinstance(option, Tensor):
                self.escaped.add(id(option))
            elif isinstance(option, Container):
                for item in option.items[:MAX_APPLIED_OPTIONS]:
                    if isinstance(item, Tensor):
                        self.escaped.add(id(item))

    def _observe(self, node: cst.Call, callee: Value, args: tuple[Value, ...], kwargs: dict[str, Value]) -> None:
        self.clock += 1
        seen = self.observed.setdefault(id(node), [])
        if len(seen) < 8:
            seen.append((callee, args, kwargs))
            self.observed_at.setdefault(id(node), []).append(self.clock)

    def _arguments(self, node: cst.Call, state: State) -> tuple[tuple[Value, ...], dict[str, Value]]:
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        for arg in node.args:
            value = self._value(arg.value, state)
            if arg.star == "*":
                if isinstance(value, Container) and value.complete:
                    args.extend(value.items)
                else:
                    args.append(Starred(value))
            elif arg.star == "**":
                kwargs["**"] = value
            elif arg.keyword is not None:
                kwargs[arg.keyword.value] = value
            else:
                args.append(value)
        return tuple(args), kwargs

    def _invoke(self, callee: Value, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call, state: State) -> Value:
        if isinstance(callee, Merge):
            chosen = self.invoke_each(callee, args, kwargs, node, state)
            if chosen is not None:
                return chosen
        if isinstance(callee, Reference):
            return self._call_reference(callee.qualified, args, kwargs, node, state)
        if isinstance(callee, ClassRef):
            # Any class of this file: a model, or a trainer holding one (``Trainer(Net()).fit()``),
            # whose methods then see the objects it was built with.
            built = self.constructions.setdefault(id(callee.cls), [])
            if len(built) < 8:
                built.append((args, kwargs, node))
            return self.instance_of(callee.cls, self._init_args(callee.cls, args, kwargs), node)
        if isinstance(callee, FunctionRef):
            if callee.bound_self is not None and callee.function.name == "forward":
                return self._forward_call(callee.bound_self, args, node, state)
            return self._call_function(callee.function, args, kwargs, callee.bound_self, node, state)
        if isinstance(callee, Param) and callee.annotation is None and self._param_default(callee) is not None:
            default = self._param_default(callee)
            return self._invoke(default, args, kwargs, node, state)  # type: ignore[arg-type]
        if isinstance(callee, Unknown) and isinstance(node.func, cst.Name) and self._named_helper(node.func.value, args, node):
            return Constant(None)  # a helper from a star import whose name says what it does
        return self._forward_call(callee, args, node, state)

    def _forward_call(self, model: Value, args: tuple[Value, ...], node: Optional[cst.CSTNode], state: State) -> Value:
        """A module object (or something used like one) applied to inputs."""
        inputs = tuple(a for a in args if not isinstance(a, Starred))
        if isinstance(model, Layer):
            output = self.apply(model, inputs, node)
            if model.op.kind == "recurrent":
                self._event("recurrent", node, model, output=output, args=inputs)
            return output
        mode = self._mode(model, state)  # (before the call, which may change it)
        output = self.apply(model, inputs, node)
        self._event("forward", node, model, mode=mode, output=output, args=inputs)
        return output

    def _freeze(self, parameter: AttributeOf) -> None:
        owner, name = parameter.path
        self.frozen.add((id(owner), name))

    def _unconditional_in_loop(self, node: cst.CSTNode) -> bool:
        """Whether a statement in a ``for`` loop (the loop over the parameters) runs for every
        parameter, whenever its function runs: no ``if``/``try``/``while`` around it, inside
        the loop or around the loop (each arm of a condition may be a path of its own, and
        the objects built before it are shared by those paths)."""
        in_loop = False
        for ancestor in self.sem.structure.ancestors(node):
            if isinstance(ancestor, (cst.FunctionDef, cst.Module)):
                return in_loop
            if isinstance(ancestor, cst.For):
                in_loop = True
            elif isinstance(ancestor, (cst.If, cst.Try, cst.While)):
                return False
        return in_loop

    def _enclosing_loops(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """The ``for`` loops around a node within its function, innermost first; lazily, since
        the first one asked for builds the module's parent map."""
        for ancestor in self.sem.structure.ancestors(node):
            if isinstance(ancestor, (cst.FunctionDef, cst.Module)):
                return
            if isinstance(ancestor, cst.For):
                yield ancestor

    def _freeze_all(self, model: Value) -> None:
        """``for p in model.parameters(): p.requires_grad = False`` (not under a condition of
        its own): every layer of the model is frozen."""
        for layer in self._layers_of(model):
            for name in ("weight", "bias"):
                self.frozen.add((id(layer), name))

    @staticmethod
    def _layers_of(model: Value) -> Iterator[Layer]:
        for option in options_of(model):
            for value in (option, *submodules(option)):
                if isinstance(value, Layer):
                    yield value

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
        conditional = frame.conditional > 0 or (self._accumulating > 0 and kind in ("step", "zero_grad"))
        self._trace.events.append(
            Event(kind, node, target, site, no_grad, frame.iterations, conditional, tuple(self._stack), **extra)
        )



_LITERAL_NAMES = {"True": True, "False": False, "None": None}
# Attributes of a tensor that are the same values (``out.data.topk(1)``), not metadata (``.shape``).
_TENSOR_VIEWS = frozenset({"data", "T", "mT", "H", "real"})


def _negate(value: Any) -> Any:
    try:
        return -value
    except Exception:  # noqa: BLE001 - not a number: unknown
        return UNKNOWN


def _positive(value: Any) -> Any:
    return value if isinstance(value, (int, float)) else UNKNOWN


def _invert(value: Any) -> Any:
    return ~value if isinstance(value, int) else UNKNOWN


_UNARY = {cst.Minus: _negate, cst.Plus: _positive, cst.BitInvert: _invert}


def _is_false(value: Value) -> bool:
    return isinstance(value, Constant) and value.value is False
