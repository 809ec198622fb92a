"""Paths through the code: which arm of a branch runs, and how many runs a root needs.

Three kinds of condition, three treatments:

* **Decided.** A condition whose value is known where it is evaluated — ``if self.use_bn:`` in
  an instance built with ``use_bn=True``, ``if dropout > 0:`` with the default ``dropout=0.0``,
  ``if cfg == "M":`` in a loop over a known list — runs its live arm only.
* **Chosen.** A condition that stays unknown but cannot change while the code runs (a
  constructor flag nobody passed, ``args.cuda``) and whose arms build or rewire modules is a
  *choice*: the root is evaluated once per combination of its choices (bounded by
  :data:`MAX_PATHS`), each run a separate path with its own objects and trace. A layer built
  only under ``if`` never meets one built only under the ``else``, and a list appended to in
  both arms holds one append per path. The same condition text (``args.cuda``) is the same
  choice throughout a run.
* **Merged.** A condition that varies from one loop iteration to the next (``if step % accum
  == 0``), or whose arms only compute tensors and values: both arms run in one pass, their
  results joined (:class:`~dllint.semantics.values.Merge`) and their events marked
  conditional.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

import libcst as cst

from dllint.semantics import catalog
from dllint.semantics.config_values import derived_constant
from dllint.semantics.syntax import children_of, dotted_name, iter_tree
from dllint.semantics.values import (
    ClassRef,
    Constant,
    Container,
    FunctionRef,
    Instance,
    Layer,
    Merge,
    Obj,
    ParameterOf,
    Reference,
    Tensor,
    Unknown,
    Value,
    merge,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator
    from dllint.semantics.scopes import FunctionInfo, Scope

MAX_PATHS = 4
UNKNOWN_LOOP_UNROLL = 2
MAX_LOOP_UNROLL = 4
MAX_CONTAINER_ITERATION = 24

T = TypeVar("T")


class State:
    """What one path knows at a point: local variables, which models are in eval mode, and
    whether it has returned."""

    __slots__ = ("env", "modes", "returned")

    def __init__(self, env: dict[str, Value], modes: Optional[dict[int, str]] = None, returned: bool = False) -> None:
        self.env = env
        self.modes: dict[int, str] = {} if modes is None else modes
        self.returned = returned

    def copy(self) -> "State":
        return State(dict(self.env), dict(self.modes), self.returned)

    def constants_named_in(self, node: cst.CSTNode) -> dict[str, Any]:
        """The constant values of the variables that ``node`` names: all that folding it can
        look up (a copy of every constant in scope would make a long module quadratic)."""
        env = self.env
        found: dict[str, Any] = {}
        for child in iter_tree(node):
            if type(child) is cst.Name:
                value = env.get(child.value)
                if isinstance(value, Constant):
                    found[child.value] = value.value
        return found


class Frame:
    """One function being evaluated: its scope, ``self``, what it returned, and its context
    (inside ``no_grad``, which loop iterations — its callers' first, then its own)."""

    __slots__ = ("function", "scope", "self_value", "returns", "no_grad", "iterations", "conditional", "inherited")

    def __init__(
        self,
        function: Optional["FunctionInfo"],
        scope: "Scope",
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
        self.inherited = len(iterations)  # loop iterations of the callers, not of this function


class Choices:
    """The arms one run takes at chosen conditions (by condition key)."""

    __slots__ = ("fixed", "default", "met", "made", "defaults")

    def __init__(self, fixed: Optional[dict[Any, bool]] = None, default: bool = True) -> None:
        self.fixed = fixed or {}
        self.default = default
        self.met: list[Any] = []  # keys this run met, in order
        self.made: dict[Any, bool] = {}
        # conditions decided by a default the user can override (``--no-bn`` off), in words
        self.defaults: list[str] = []

    def choose(self, key: Any) -> bool:
        value = self.fixed.get(key, self.default)
        if key not in self.made:
            self.met.append(key)
        self.made[key] = value
        return value

    def describe(self) -> str:
        """``use_bn`` is false, ``args.cuda`` is true: the path in words (its chosen conditions)."""
        parts = []
        for (_, text), value in self.made.items():
            if text.startswith("the "):
                parts.append(text if value else text.replace("completes", "raises"))
            else:
                parts.append(f"`{text}` is {'true' if value else 'false'}")
        return ", ".join(parts + self.defaults)


def later_runs(keys: list[Any]) -> Iterator[Choices]:
    """The runs after the first (which takes every chosen condition's true arm): every arm
    false, then each of the first conditions false on its own, up to :data:`MAX_PATHS` runs."""
    yield Choices(default=False)
    if len(keys) == 1:
        return
    for key in keys[: MAX_PATHS - 2]:
        yield Choices({key: False})


def truth(value: Value) -> Optional[bool]:
    """The truth value of an abstract value, when it is known."""
    if isinstance(value, Constant):
        try:
            return bool(value.value)
        except Exception:  # noqa: BLE001 - an object whose __bool__ raises: unknown
            return None
    if isinstance(value, (Layer, Instance, FunctionRef, ClassRef, Reference)):
        return True  # objects (a tensor's truth is its value: unknown)
    if isinstance(value, Container):
        if value.kind in ("sequential", "module_list", "module_dict"):
            return True
        return bool(value.items) if value.complete or value.items else None
    if isinstance(value, Merge):
        verdicts = {truth(option) for option in value.options}
        return verdicts.pop() if len(verdicts) == 1 else None
    return None


def _is_object(value: Value) -> bool:
    """A value that is surely not None (a module, a class, a function, a computed tensor)."""
    if isinstance(value, Merge):
        return all(_is_object(option) for option in value.options)
    return isinstance(value, (Layer, Instance, FunctionRef, ClassRef, Tensor, Container)) or (
        isinstance(value, Reference) and value.qualified is not None
    )


_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    cst.Equal: lambda a, b: a == b,
    cst.NotEqual: lambda a, b: a != b,
    cst.LessThan: lambda a, b: a < b,
    cst.LessThanEqual: lambda a, b: a <= b,
    cst.GreaterThan: lambda a, b: a > b,
    cst.GreaterThanEqual: lambda a, b: a >= b,
    cst.In: lambda a, b: a in b,
    cst.NotIn: lambda a, b: a not in b,
    cst.Is: lambda a, b: a is b,
    cst.IsNot: lambda a, b: a is not b,
}


def compare(operator: cst.BaseCompOp, left: Value, right: Value) -> Optional[bool]:
    """One comparison of a chain, when its outcome is known."""
    operator_type = type(operator)
    if isinstance(left, Constant) and isinstance(right, Constant):
        try:
            return bool(_COMPARISONS[operator_type](left.value, right.value))
        except Exception:  # noqa: BLE001 - incomparable values: unknown
            return None
    if operator_type in (cst.Is, cst.IsNot):
        for a, b in ((left, right), (right, left)):
            if isinstance(b, Constant) and b.value is None and _is_object(a):
                return operator_type is cst.IsNot
    if operator_type in (cst.In, cst.NotIn) and isinstance(left, Constant) and isinstance(right, Container) and right.complete:
        members = right.keys if right.keys is not None else right.items
        if right.keys is None and not all(isinstance(item, Constant) for item in members):
            return None
        values = members if right.keys is not None else [item.value for item in members]  # type: ignore[union-attr]
        try:
            found = left.value in values
        except Exception:  # noqa: BLE001
            return None
        return found if operator_type is cst.In else not found
    return None


class PathsMixin:
    """Branches, loops and the runs of a root (mixed into the evaluator)."""

    def _if(self: "Evaluator", node: cst.If, state: State) -> None:
        arm = self._arm(node.test, node, state)
        if arm is True:
            self._block(node.body, state)
        elif arm is False:
            if isinstance(node.orelse, cst.If):
                self._statement(node.orelse, state)
            elif isinstance(node.orelse, cst.Else):
                self._block(node.orelse.body, state)
        else:
            self._branches(node.body, node.orelse, state)

    def _arm(self: "Evaluator", test: cst.BaseExpression, node: cst.CSTNode, state: State) -> Optional[bool]:
        """Which arm of a condition runs: True/False when decided or chosen, None for both."""
        value = self._value(test, state)
        known = truth(value)
        if known is not None and self._partial_loops and self._varies_per_iteration(referenced_names(test), partial=True):
            # Decided only by the few iterations a loop was unrolled for (``steps += 1`` …
            # ``if steps % print_every == 0``): on the real run it varies, so both arms run.
            return None
        if known is not None and self._choices is not None:
            self._note_default(value, node)
        if known is not None or self._choices is None or not self._builds_modules(node):
            return known
        key = self._choice_key(test)
        if key is None:
            return None
        negated, key = key
        return self._choices.choose(key) != negated

    def _choice_key(self: "Evaluator", test: cst.BaseExpression) -> Optional[tuple[bool, tuple[Any, str]]]:
        """(negated, key) for a condition that is fixed for the whole run; None when it may
        change from one loop iteration to the next. The key is the condition's text, scoped to
        the function when it reads the function's own variables."""
        negated = False
        while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            negated = not negated
            test = test.expression
        if (
            isinstance(test, cst.Comparison)
            and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, (cst.IsNot, cst.NotEqual, cst.NotIn))
        ):
            negated = not negated
            positive = {cst.IsNot: cst.Is, cst.NotEqual: cst.Equal, cst.NotIn: cst.In}[type(test.comparisons[0].operator)]
            test = test.with_changes(comparisons=[test.comparisons[0].with_changes(operator=positive())])
        names = referenced_names(test)
        if self._varies_per_iteration(names):
            return None
        frame = self._frames[-1]
        local = frame.function is not None and any(name.split(".")[0] in frame.scope.bindings for name in names)
        text = dotted_name(test) or _code(test)
        return negated, (id(frame.function) if local else None, text)

    def _varies_per_iteration(self: "Evaluator", names: set[str], partial: bool = False) -> bool:
        """Whether a condition reading ``names`` may change from one iteration of an enclosing
        loop to the next (of a loop unrolled only partly, with ``partial``)."""
        frame = self._frames[-1]
        if not frame.iterations:
            return False
        for loop, _ in frame.iterations[frame.inherited:]:
            if partial and id(loop) not in self._partial_loops:
                continue
            assigned = self._assigned_in(loop)
            if any(_overlaps(name, target) for name in names for target in assigned):
                return True
        inherited = frame.iterations[:frame.inherited]
        if partial:
            inherited = tuple(entry for entry in inherited if id(entry[0]) in self._partial_loops)
        if inherited and frame.function is not None:
            params = {param.name.value for param in frame.function.params}
            return any(name.split(".")[0] in params for name in names)
        return False

    def _assigned_in(self: "Evaluator", loop: cst.CSTNode) -> frozenset[str]:
        assigned = self._loop_targets.get(id(loop))
        if assigned is None:
            assigned = self._loop_targets[id(loop)] = frozenset(assignment_targets(loop))
        return assigned

    def _builds_modules(self: "Evaluator", node: cst.CSTNode) -> bool:
        """Whether a branch's arms build, store or rewire module objects (statically: they
        assign attributes or items, call a constructor or a same-file function into a
        variable, or add to a container) — as opposed to only computing values."""
        known = self._structural.get(id(node))
        if known is None:
            scope = self._frames[-1].scope
            known = self._structural[id(node)] = builds_modules(node, scope, self._structural)
        return known

    def _branches(self: "Evaluator", body: cst.BaseSuite, orelse: Optional[cst.CSTNode], state: State) -> None:
        then_state = state.copy()
        self._conditional(self._block, body, then_state)
        else_state = state.copy()
        if type(orelse) is cst.If:
            self._conditional(self._statement, orelse, else_state)
        elif isinstance(orelse, cst.Else):
            self._conditional(self._block, orelse.body, else_state)
        self._join(state, then_state, else_state)

    def _conditional(self: "Evaluator", run, *args) -> None:
        """Run ``run(*args)`` as code that may or may not execute (a merged branch, a handler)."""
        frame = self._frames[-1]
        frame.conditional += 1
        try:
            run(*args)
        finally:
            frame.conditional -= 1

    def _join(self: "Evaluator", state: State, a: State, b: State) -> None:
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
            if left is None or right is None or left[0] != right[0]:
                stamps = [entry[1] for entry in (left, right) if entry is not None]
                state.modes[key] = ("unknown", max(stamps))
            else:
                state.modes[key] = left if left[1] >= right[1] else right
        state.returned = a.returned and b.returned

    def _try(self: "Evaluator", node: cst.CSTNode, state: State) -> None:
        handlers = [handler for handler in node.handlers if not _reraises(handler.body)]
        arm = None
        if handlers and self._choices is not None and any(self._builds_modules(handler) for handler in handlers):
            arm = self._choices.choose((id(node), "the `try` block completes"))
        if arm is False:
            # The exception path: the handler runs instead of the guarded code.
            self._block(handlers[0].body, state)
        else:
            self._block(node.body, state)
            if arm is None:
                for handler in handlers:
                    branch = state.copy()
                    branch.returned = False
                    self._conditional(self._block, handler.body, branch)
            if node.orelse is not None:
                self._block(node.orelse.body, state)
        if node.finalbody is not None:
            self._block(node.finalbody.body, state)

    def _explore(self: "Evaluator", run: Callable[[Choices], T], choosing: bool = True) -> list[T]:
        """Run ``run`` once per path: first taking the true arm of every chosen condition, then
        the other combinations of the conditions that run met. A root that does not build
        models (a training loop, a weight loader) is not split into paths (``choosing``
        False): its branches are merged, and rules ask whether something happens on any path."""
        first = Choices()
        if not choosing:
            return [self._with_choices(None, run, first)]
        results = [self._with_choices(first, run)]
        if first.met:
            for choices in later_runs(first.met):
                results.append(self._with_choices(choices, run))
        return results

    def _with_choices(self: "Evaluator", choices: Optional[Choices], run: Callable[[Choices], T],
                      record: Optional[Choices] = None) -> T:
        saved = self._choices
        self._choices = choices
        try:
            return run(choices if choices is not None else record)  # type: ignore[arg-type]
        finally:
            self._choices = saved

    # loops ----------------------------------------------------------------------------------

    def _loop(self: "Evaluator", node: cst.CSTNode, state: State) -> None:
        frame = self._frames[-1]
        if isinstance(node, cst.For):
            iterable = self._value(node.iter, state)
            self._loop_iterables[id(node)] = iterable
            elements = self._iteration(iterable)
        else:
            if truth(self._value(node.test, state)) is False:
                if node.orelse is not None:
                    self._block(node.orelse.body, state)
                return
            elements = None
        count = len(elements) if elements is not None else UNKNOWN_LOOP_UNROLL
        saved = frame.iterations
        partial = elements is None or self._truncated(node, elements)
        if partial:
            self._partial_loops.add(id(node))
        try:
            for index in range(count):
                frame.iterations = saved + ((node, index),)
                if isinstance(node, cst.For):
                    element = elements[index] if elements is not None else self._element_of(iterable, node.target, node.iter)
                    self._assign(node.target, element, state)
                self._block(node.body, state)
                if state.returned:
                    break
        finally:
            frame.iterations = saved
            if partial:
                self._partial_loops.discard(id(node))
        if node.orelse is not None:
            self._block(node.orelse.body, state)

    def _element_of(self: "Evaluator", iterable: Value, target: cst.BaseAssignTargetExpression,
                    node: cst.CSTNode) -> Value:
        """What a loop variable holds when the elements are unknown: for ``model.parameters()``
        (``for name, p in model.named_parameters()``), one of that model's parameters; for a
        tensor (or a state the evaluator only knows as one: an element of an opaque model's
        output), one element of it (``for h in hidden: h.detach_()`` detaches the state)."""
        if any(isinstance(option, Tensor) for option in options_of(iterable)):
            return self._tensor("subscript", None, (iterable,), node)
        return _parameter_of(iterable, target)

    def _truncated(self: "Evaluator", node: cst.CSTNode, elements: list[Value]) -> bool:
        """Whether a loop over known elements visits fewer than it would really (a long
        ``range`` or list cut to a few iterations)."""
        return _length(self._loop_iterables.get(id(node))) != len(elements)

    def _iteration(self: "Evaluator", iterable: Value) -> Optional[list[Value]]:
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

    def _comprehension(self: "Evaluator", expr, state: State) -> Value:
        """A list comprehension (or generator) over known elements is evaluated once per
        element (``[Block(c) for c in (64, 128)]``); over unknown ones, a few times."""
        clauses = list(_for_clauses(expr.for_in))
        first = clauses[0]
        iterable = self._value(first.iter, state)
        elements = self._iteration(iterable)
        count = min(len(elements), MAX_LOOP_UNROLL) if elements is not None else UNKNOWN_LOOP_UNROLL
        items: list[Value] = []
        complete = elements is not None
        for index in range(count):
            inner = state.copy()
            element = elements[index] if elements is not None else self._element_of(iterable, first.target, first.iter)
            self._assign(first.target, element, inner)
            if not self._comprehension_clauses(first, clauses[1:], inner):
                continue
            items.append(self._value(expr.elt, inner))
        seen = list(items)
        if elements is not None and len(elements) > MAX_LOOP_UNROLL and items:
            items.extend([items[-1]] * (min(len(elements), MAX_CONTAINER_ITERATION) - len(items)))
        made = Container("list", items, expr, complete=complete)
        if len(clauses) == 1 and not first.ifs and not isinstance(expr, cst.SetComp):
            self.arrays.listed(made, seen, self.arrays.length(iterable))
        return made

    def _comprehension_clauses(self: "Evaluator", first: cst.CompFor, rest: list[cst.CompFor], inner: State) -> bool:
        """Bind the inner ``for`` targets (first element) and test the ``if``s: False when an
        ``if`` is surely false for this element."""
        for condition in first.ifs:
            if truth(self._value(condition.test, inner)) is False:
                return False
        for clause in rest:
            elements = self._iteration(self._value(clause.iter, inner))
            self._assign(clause.target, elements[0] if elements else Unknown(), inner)
            for condition in clause.ifs:
                self._value(condition.test, inner)
        return True

    # conditions as values -------------------------------------------------------------------

    def _comparison(self: "Evaluator", expr: cst.Comparison, state: State) -> Value:
        left = self._value(expr.left, state)
        operands = [left]
        verdict: Optional[bool] = True
        tensors = [left] if isinstance(left, Tensor) else []
        for comparison in expr.comparisons:
            right = self._value(comparison.comparator, state)
            operands.append(right)
            outcome = compare(comparison.operator, left, right)
            if outcome is False:
                verdict = False
            elif outcome is None and verdict is True:
                verdict = None
            if isinstance(right, Tensor):
                tensors.append(right)
            left = right
        if verdict is None and tensors:
            return self._tensor("compare", type(expr.comparisons[0].operator).__name__, tuple(tensors), expr)
        return derived_constant(verdict, *operands) if verdict is not None else Unknown()

    def _boolean(self: "Evaluator", expr: cst.BooleanOperation, state: State) -> Value:
        left = self._value(expr.left, state)
        known = truth(left)
        is_and = isinstance(expr.operator, cst.And)
        if known is not None:
            if known is not is_and:  # ``False and …`` / ``True or …``: the left operand
                return left
            return self._value(expr.right, state)
        right = self._value(expr.right, state)
        if truth(right) is (not is_and):  # ``x and False`` is falsy, ``x or True`` truthy
            return Constant(not is_and)
        return merge(left, right)

    def _if_expression(self: "Evaluator", expr: cst.IfExp, state: State) -> Value:
        arm = self._arm(expr.test, expr, state)
        if arm is True:
            return self._value(expr.body, state)
        if arm is False:
            return self._value(expr.orelse, state)
        return merge(self._value(expr.body, state), self._value(expr.orelse, state))


# --- static facts about conditions and branches ------------------------------------------------

_CONTAINER_METHODS = frozenset({
    "append", "extend", "insert", "add_module", "register_module", "register_buffer", "register_parameter", "update",
    "setdefault", "__setitem__",
})


def builds_modules(node: cst.CSTNode, scope: "Scope", known: Optional[dict[int, bool]] = None) -> bool:
    """Whether the arms of an ``if`` (or a handler, or a conditional expression) build, store or
    rewire module objects. ``known`` caches verdicts by node id: an ``elif`` ladder is judged
    from its last branch up, each ``elif`` once (judging each one by walking the rest of the
    ladder made a ladder quadratic)."""
    if isinstance(node, cst.IfExp):
        return _constructs(node.body, scope) or _constructs(node.orelse, scope)
    if isinstance(node, cst.If) and known is not None:
        ladder = [node]
        while isinstance(ladder[-1].orelse, cst.If) and id(ladder[-1].orelse) not in known:
            ladder.append(ladder[-1].orelse)
        for branch in reversed(ladder):
            orelse = branch.orelse
            rest = known[id(orelse)] if isinstance(orelse, cst.If) else orelse is not None and _builds([orelse], scope)
            known[id(branch)] = rest or _builds([branch.body], scope)
        return known[id(node)]
    return _builds([node], scope)


def _builds(nodes: list[cst.CSTNode], scope: "Scope") -> bool:
    stack = list(nodes)
    while stack:
        current = stack.pop()
        current_type = type(current)
        if current_type in (cst.If, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler, cst.For, cst.While, cst.With,
                            cst.Try, cst.TryStar, cst.IndentedBlock, cst.SimpleStatementSuite):
            for child in _suite_children(current):
                stack.append(child)
        elif current_type is cst.SimpleStatementLine:
            stack.extend(current.body)
        elif current_type in (cst.Assign, cst.AnnAssign, cst.AugAssign):
            targets = [t.target for t in current.targets] if current_type is cst.Assign else [current.target]
            if any(not isinstance(target, cst.Name) for target in targets):
                return True  # self.x = …, d[k] = …, a, b = …
            if current.value is not None and _constructs(current.value, scope):
                return True
            if current_type is cst.AugAssign and isinstance(current.value, (cst.List, cst.Tuple, cst.ListComp)):
                return True
        elif current_type is cst.Expr:
            call = current.value
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value in _CONTAINER_METHODS:
                return True
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "setattr":
                return True
    return False


def _suite_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    if isinstance(node, (cst.IndentedBlock, cst.SimpleStatementSuite)):
        return list(node.body)
    children: list[cst.CSTNode] = []
    for name in ("body", "orelse", "handlers", "finalbody"):
        part = getattr(node, name, None)
        if part is None:
            continue
        if isinstance(part, (tuple, list)):
            children.extend(part)
        else:
            children.append(part)
    return children


def _constructs(expr: cst.BaseExpression, scope: "Scope") -> bool:
    """Whether an expression (an assigned value) builds or picks a module: a call of a layer,
    a container, a class or function of this file, a CamelCase class, or a module object
    picked by name (``act = self.relu``, ``norm = nn.BatchNorm2d``)."""
    stack = [expr]
    while stack:
        current = stack.pop()
        current_type = type(current)
        if current_type is cst.Call:
            qualified = scope.resolve(current.func)
            if qualified is not None and (qualified in catalog.LAYERS or catalog.layer_op(qualified) is not None):
                return True
            callee = current.func
            name = callee.attr.value if isinstance(callee, cst.Attribute) else callee.value if isinstance(callee, cst.Name) else ""
            if isinstance(callee, cst.Name):
                bindings = scope.lookup(callee.value)
                if bindings and any(binding.kind in ("def", "class") for binding in bindings):
                    return True
            if name[:1].isupper():
                return True
            stack.extend(arg.value for arg in current.args)
        elif current_type in (cst.Attribute, cst.Name):
            qualified = scope.resolve(current)
            if qualified is not None and catalog.layer_op(qualified) is not None:
                return True
        elif current_type in (cst.IfExp,):
            stack.extend((current.body, current.orelse))
        elif current_type in (cst.List, cst.Tuple):
            stack.extend(element.value for element in current.elements)
    return False


def referenced_names(expr: cst.BaseExpression) -> set[str]:
    """The dotted names a condition reads (``self.use_bn``, ``step``, ``args.accum``)."""
    found: set[str] = set()
    stack: list[cst.CSTNode] = [expr]
    while stack:
        current = stack.pop()
        dotted = dotted_name(current) if type(current) in (cst.Name, cst.Attribute) else None
        if dotted is not None:
            found.add(dotted)
            continue
        stack.extend(children_of(current))
    return found


def assignment_targets(node: cst.CSTNode) -> Iterator[str]:
    """The dotted names a statement (a loop) assigns anywhere inside it."""
    stack: list[cst.CSTNode] = [node]
    while stack:
        current = stack.pop()
        current_type = type(current)
        targets: list[cst.CSTNode] = []
        if current_type is cst.Assign:
            targets = [t.target for t in current.targets]
        elif current_type in (cst.AnnAssign, cst.AugAssign, cst.NamedExpr):
            targets = [current.target]
        elif current_type in (cst.For, cst.CompFor):
            targets = [current.target]
        elif current_type is cst.WithItem and current.asname is not None:
            targets = [current.asname.name]
        while targets:
            target = targets.pop()
            if isinstance(target, (cst.Tuple, cst.List)):
                targets.extend(element.value for element in target.elements)
            elif isinstance(target, cst.StarredElement):
                targets.append(target.value)
            elif isinstance(target, cst.Subscript):
                targets.append(target.value)
            else:
                dotted = dotted_name(target)
                if dotted is not None:
                    yield dotted
        if current_type not in (cst.FunctionDef, cst.ClassDef, cst.Lambda):
            stack.extend(children_of(current))


def _overlaps(read: str, assigned: str) -> bool:
    return read == assigned or read.startswith(assigned + ".") or assigned.startswith(read + ".")


def _length(iterable: Optional[Value]) -> Optional[int]:
    """How many elements a loop over ``iterable`` really visits, when known."""
    if isinstance(iterable, Constant) and isinstance(iterable.value, (tuple, list, str)):
        return len(iterable.value)
    if isinstance(iterable, Container) and iterable.complete:
        return len(iterable.keys if iterable.kind in ("module_dict", "dict") and iterable.keys is not None else iterable.items)
    if isinstance(iterable, Obj) and iterable.qualified == "builtins.range":
        count = iterable.kwargs.get("count")
        return count.value if isinstance(count, Constant) and isinstance(count.value, int) else None
    if isinstance(iterable, Obj) and iterable.qualified in ("builtins.enumerate", "builtins.reversed", "dict.items"):
        return _length(iterable.args[0]) if iterable.args else None
    if isinstance(iterable, Obj) and iterable.qualified == "builtins.zip":
        lengths = [_length(arg) for arg in iterable.args]
        return min(lengths) if lengths and all(length is not None for length in lengths) else None  # type: ignore[type-var]
    return None


def _reraises(body: cst.BaseSuite) -> bool:
    statements = body.body if isinstance(body, cst.IndentedBlock) else ()
    last = statements[-1] if statements else None
    return isinstance(last, cst.SimpleStatementLine) and any(isinstance(s, cst.Raise) for s in last.body)


def _for_clauses(clause: Optional[cst.CompFor]) -> Iterator[cst.CompFor]:
    while clause is not None:
        yield clause
        clause = clause.inner_for_in


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _parameter_of(iterable: Value, target: cst.BaseAssignTargetExpression) -> Value:
    if isinstance(iterable, Obj) and iterable.qualified == "parameters" and iterable.args:
        named = isinstance(iterable.node, cst.Call) and isinstance(iterable.node.func, cst.Attribute) and (
            iterable.node.func.attr.value == "named_parameters"
        )
        if not named:
            return ParameterOf(iterable.args[0])
        if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
            return Container("list", [Unknown(), ParameterOf(iterable.args[0])], None)
    return Unknown()
