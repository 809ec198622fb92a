"""Weight initialisation: every call that writes a parameter's values, and what it writes.

An *init write* is a call of an initialiser — ``torch.nn.init.*``, Hugging Face's
``transformers.initialization.*`` (same signatures), timm's ``trunc_normal_`` /
``lecun_normal_`` / ``variance_scaling_`` — or of an in-place tensor method that overwrites
values (``w.data.normal_(0, 1)``, ``w.uniform_(-a, a)``, ``w.zero_()``, ``w.copy_(x)``).

For each write this module knows the tensor expression written, the distribution arguments
(folded), and :func:`written` says which layers or ``nn.Parameter`` tensors that expression
can denote:

* *direct*: what the evaluator saw reach the call (``nn.init.xavier_uniform_(self.fc1.weight)``
  in an evaluated ``__init__``: the ``fc1`` layer);
* *self*: ``self.w`` in a method of a model class the evaluator did not run (a
  ``reset_parameters`` nobody calls in this file): looked up on the class's instance;
* *type*: a name guarded by ``isinstance(m, nn.Linear)`` in an init loop or an init function
  (``for m in self.modules()``, ``model.apply(init_fn)``, Hugging Face's
  ``_init_weights(self, module)``): every ``nn.Linear`` the loop or ``apply`` covers — the
  whole file when the coverage is unknown; for a guard on a model class of this file, that
  class's instance;
* *parameters*: a loop variable over ``X.parameters()``/``named_parameters()``: every
  parameter of ``X``;
* *modules*: a loop variable over ``X.modules()`` with no type guard: every layer of ``X``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional

import libcst as cst

from dllint.semantics import catalog
from dllint.semantics.constants import UNKNOWN, fold
from dllint.semantics.scopes import CallSite, FunctionInfo
from dllint.semantics.syntax import bind_arguments, iter_statements, iter_tree
from dllint.semantics.values import (
    AttributeOf,
    Container,
    FunctionRef,
    Instance,
    Layer,
    Merge,
    Obj,
    Tensor,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics, ForwardGraph
    from dllint.semantics.weights import WeightUse

# Initialiser functions: name → the parameters after the tensor, in order.
INITIALIZERS: dict[str, tuple[str, ...]] = {
    "normal_": ("mean", "std"),
    "trunc_normal_": ("mean", "std", "a", "b"),
    "trunc_normal_tf_": ("mean", "std", "a", "b"),
    "uniform_": ("a", "b"),
    "xavier_uniform_": ("gain",),
    "xavier_normal_": ("gain",),
    "kaiming_uniform_": ("a", "mode", "nonlinearity"),
    "kaiming_normal_": ("a", "mode", "nonlinearity"),
    "orthogonal_": ("gain",),
    "sparse_": ("sparsity", "std"),
    "constant_": ("val",),
    "zeros_": (),
    "ones_": (),
    "eye_": (),
    "dirac_": ("groups",),
    "lecun_normal_": (),
    "variance_scaling_": ("scale", "mode", "distribution"),
    "copy_": ("other",),
    "default_flax_embed_init_": (),
}
# Modules whose functions of those names are initialisers with torch.nn.init's signatures.
_INIT_MODULES = (
    "torch.nn.init.",
    "transformers.initialization.",
    "timm.layers.",
    "timm.layers.weight_init.",
    "timm.models.layers.",
    "timm.models.layers.weight_init.",
)
# In-place tensor methods that overwrite every value of the tensor: name → parameters.
OVERWRITING_METHODS: dict[str, tuple[str, ...]] = {
    "normal_": ("mean", "std"),
    "uniform_": ("from", "to"),
    "zero_": (),
    "fill_": ("value",),
    "copy_": ("src",),
    "bernoulli_": ("p",),
    "exponential_": ("lambd",),
    "log_normal_": ("mean", "std"),
    "cauchy_": ("median", "sigma"),
    "geometric_": ("p",),
    "random_": ("from", "to"),
    "trunc_normal_": ("mean", "std", "a", "b"),
}
MODULE_ITERATORS = ("modules", "children", "named_modules", "named_children")
_PARAMETER_ITERATORS = ("parameters", "named_parameters")


def initializer(qualified: Optional[str]) -> Optional[str]:
    """``normal_`` for ``torch.nn.init.normal_`` (or the same name in transformers/timm)."""
    if not qualified:
        return None
    for prefix in _INIT_MODULES:
        if qualified.startswith(prefix):
            name = qualified[len(prefix):]
            return name if name in INITIALIZERS else None
    return None


class InitWrite:
    """One call that overwrites a tensor's values."""

    __slots__ = ("site", "name", "method", "target", "partial", "args")

    def __init__(
        self,
        site: CallSite,
        name: str,
        method: bool,
        target: cst.BaseExpression,
        partial: bool,
        args: dict[str, cst.BaseExpression],
    ) -> None:
        self.site = site
        self.name = name  # ``normal_``, ``xavier_uniform_``, ``zero_`` …
        self.method = method  # an in-place tensor method (``w.normal_()``) rather than an initialiser function
        self.target = target  # the tensor expression written, ``.data`` and subscripts removed
        self.partial = partial  # only a slice is written (``w[:, 0].zero_()``)
        self.args = args

    @property
    def node(self) -> cst.Call:
        return self.site.node

    def arg(self, name: str, default: Any = UNKNOWN) -> Any:
        """The folded value of an argument; ``default`` when it was surely not passed."""
        if name in self.args:
            return fold(self.args[name], self.site.scope)
        if any(arg.star for arg in self.node.args):
            return UNKNOWN
        return default

    @property
    def path(self) -> tuple[str, ...]:
        """The attribute names after the root: ``("fc1", "weight")`` for ``self.fc1.weight``."""
        names = []
        expr = self.target
        while type(expr) is cst.Attribute:
            names.append(expr.attr.value)
            expr = expr.value
        return tuple(reversed(names))

    @property
    def root(self) -> Optional[str]:
        """``self`` for ``self.fc1.weight``; None when the chain does not start at a name."""
        expr = self.target
        while type(expr) is cst.Attribute:
            expr = expr.value
        return expr.value if isinstance(expr, cst.Name) else None

    @property
    def attribute(self) -> Optional[str]:
        """The name of the tensor written: ``weight`` for ``self.fc1.weight.data``."""
        path = self.path
        return path[-1] if path else self.root


def collect(sem: "FileSemantics") -> list[InitWrite]:
    writes: list[InitWrite] = []
    for site in sem.info.calls:
        name = initializer(site.qualified)
        if name is not None:
            params = ("tensor",) + INITIALIZERS[name]
            bound = bind_arguments(site.node, params)
            tensor = bound.pop("tensor", None)
            if tensor is not None:
                target, partial = _strip(tensor)
                writes.append(InitWrite(site, name, False, target, partial, bound))
            continue
        if site.qualified is None and site.method in OVERWRITING_METHODS and site.receiver is not None:
            target, partial = _strip(site.receiver)
            if isinstance(target, (cst.Name, cst.Attribute)) and not _is_grad(target):
                bound = bind_arguments(site.node, OVERWRITING_METHODS[site.method])
                writes.append(InitWrite(site, site.method, True, target, partial, bound))
    return writes


def _strip(expr: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """``self.w`` for ``self.w.data``, ``self.w.data[0]``, ``self.w[:, 0]`` (the latter partial)."""
    partial = False
    while True:
        if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
            expr = expr.value
        elif isinstance(expr, cst.Subscript):
            partial = True
            expr = expr.value
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ("detach", "view", "flatten"):
            expr = expr.func.value
        else:
            return expr, partial


def _is_grad(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Attribute) and expr.attr.value == "grad"


# --- what a write denotes ----------------------------------------------------------------------

class Written:
    """A tensor an init write may overwrite: parameter ``parameter`` of ``owner`` (a layer or a
    model instance), or a trainable tensor itself (``owner`` is that Tensor — an
    ``nn.Parameter`` or a raw weight, see ``semantics/weights.py`` — ``parameter`` is "")."""

    __slots__ = ("owner", "parameter", "via", "at")

    def __init__(self, owner: Value, parameter: str, via: str, at: Optional[int] = None) -> None:
        self.owner = owner
        self.parameter = parameter
        self.via = via  # direct | self | type | class | parameters | parameters-selected | modules
        # When the write reached it, on the evaluator's clock (``Evaluator.clock``): the write
        # itself, the loop over ``modules()`` or the ``apply`` that ran it; None when unknown
        # (a method nobody calls in this file).
        self.at = at

    @property
    def certain(self) -> bool:
        """False for ``parameters-selected``: a parameter loop whose condition (``if "fc" in
        name``) picks some parameters — this one may or may not be among them."""
        return self.via != "parameters-selected"

    @property
    def layer(self) -> Optional[Layer]:
        return self.owner if isinstance(self.owner, Layer) else None

    @property
    def tensor(self) -> Optional[Tensor]:
        return self.owner if isinstance(self.owner, Tensor) else None


def parameter_writes(sem: "FileSemantics") -> tuple[set[int], list[InitWrite]]:
    """The ``nn.Parameter`` constructor calls (by id) that some init write of the file overwrites,
    and the writes to an attribute whose target dllint cannot resolve."""
    reached: set[int] = set()
    unresolved: list[InitWrite] = []
    for write in sem.init_writes:
        targets = written(sem, write)
        for target in targets:
            if target.tensor is not None and target.tensor.node is not None:
                reached.add(id(target.tensor.node))
        if not targets and write.attribute:
            unresolved.append(write)
    return reached, unresolved


def rewritten_weights(sem: "FileSemantics") -> set[int]:
    """Weight tensors (by id of their creating node: an ``nn.Parameter(...)`` call, a
    ``torch.randn(...)`` raw weight) that some init write overwrites after they were created;
    a write whose target dllint cannot resolve counts for every weight bound to that name (an
    attribute of a class, a variable of the module or a function)."""
    found, unresolved_writes = parameter_writes(sem)
    unresolved = {write.attribute for write in unresolved_writes}
    if unresolved:
        for cls in sem.info.classes:
            for assignment in cls.attribute_assignments:
                if assignment.name in unresolved and isinstance(assignment.value, cst.Call):
                    found.add(id(assignment.value))
        for scope in [sem.info.scope] + [function.scope for function in sem.info.functions]:
            for name in unresolved & set(scope.bindings):
                for binding in scope.bindings[name]:
                    if binding.kind == "assign" and binding.value is not None:
                        found.add(id(binding.value))
    return found


def written(sem: "FileSemantics", write: InitWrite) -> list[Written]:
    """Every layer parameter or ``nn.Parameter`` tensor the write may overwrite (see module doc)."""
    _construct_writing_classes(sem)
    found: list[Written] = []
    root = write.root
    function = write.site.function
    types = guard_types(write.site, root) if root else []
    if types is None:
        return found  # a further condition picks particular layers: which ones is unknowable
    if types:
        for qualified in types:
            found.extend(_of_type(sem, write, qualified))
        return found
    loop = loop_over(write.site, root) if root else None
    if loop is not None and loop[0] in _PARAMETER_ITERATORS and not write.path:
        via = "parameters" if _selects_all_weights(write.site, loop) else "parameters-selected"
        for model, at in _loop_receivers(sem, loop[1]):
            found.extend(_parameters_of(model, via, at))
        return found
    if loop is not None and loop[0] in MODULE_ITERATORS and len(write.path) == 1:
        for model, at in _loop_receivers(sem, loop[1]):
            for item in modules_of(model):
                if isinstance(item, Layer):
                    found.append(Written(item, write.path[0], "modules", at))
        return found
    for (callee, args, _), at in observations(sem, write.node):
        value = callee if write.method else (args[0] if args else None)
        if value is not None:
            found.extend(_denoted(value, "direct", at))
    if found:
        return found
    if function is not None and function.self_name and function.cls is not None and sem.is_module_class(function.cls):
        instance = sem.generic_instance(function.cls)
        if root == function.self_name and write.path:
            found.extend(_follow(instance, write.path, "self"))
        elif root is not None:
            # ``for proj in (self.q_proj, self.k_proj): init(proj.weight)``
            for element in _literal_loop_elements(write.site, root):
                path = _self_path(element, function.self_name)
                if path:
                    found.extend(_follow(instance, path + write.path, "self"))
    return found


def _construct_writing_classes(sem: "FileSemantics") -> None:
    """Build (once) the default instance of every model class with an init write in a method,
    so that what its ``__init__`` writes is observed whichever write is asked about first —
    also for a class with no ``forward`` nobody instantiates here."""
    if sem.__dict__.get("_writing_classes_built"):
        return
    sem.__dict__["_writing_classes_built"] = True
    classes = {id(write.site.function.cls): write.site.function.cls for write in sem.init_writes
               if write.site.function is not None and write.site.function.cls is not None}
    for cls in classes.values():
        if sem.is_module_class(cls):
            sem.generic_instance(cls)


def _literal_loop_elements(site: CallSite, name: str) -> list[cst.BaseExpression]:
    for loop in reversed(site.loops):
        if isinstance(loop, cst.For) and isinstance(loop.target, cst.Name) and loop.target.value == name:
            if isinstance(loop.iter, (cst.Tuple, cst.List)):
                return [element.value for element in loop.iter.elements if not isinstance(element, cst.StarredElement)]
            return []
    return []


def _self_path(expr: cst.BaseExpression, self_name: str) -> tuple[str, ...]:
    names = []
    while isinstance(expr, cst.Attribute):
        names.append(expr.attr.value)
        expr = expr.value
    return tuple(reversed(names)) if isinstance(expr, cst.Name) and expr.value == self_name else ()


def observations(sem: "FileSemantics", node: cst.Call) -> Iterator[tuple[tuple[Value, tuple[Value, ...], dict[str, Value]], Optional[int]]]:
    """What reached a call (``sem.observed``), each with the clock at which it did."""
    observed = sem.observed(node)  # evaluates the file first
    ticks = sem.evaluator.observed_at.get(id(node), ())
    for index, seen in enumerate(observed):
        yield seen, (ticks[index] if index < len(ticks) else None)


def _denoted(value: Value, via: str, at: Optional[int] = None) -> Iterator[Written]:
    for option in options_of(value):
        if isinstance(option, AttributeOf):
            owner, name = option.path
            for owner_option in options_of(owner):
                if isinstance(owner_option, (Layer, Instance)):
                    yield Written(owner_option, name, via, at)
        elif isinstance(option, Tensor):
            parameter = _parameter_tensor(option)
            if parameter is not None:
                yield Written(parameter, "", via, at)


def _parameter_tensor(tensor: Tensor) -> Optional[Tensor]:
    """The weight tensor itself — an ``nn.Parameter``, or a tensor the code creates that may be
    a raw weight (``semantics/weights.py`` says whether it is trained) — looking through
    ``.data``-like views and subscripts."""
    from dllint.semantics.weights import weight_like

    current: Value = tensor
    for _ in range(6):
        if not isinstance(current, Tensor):
            return None
        if weight_like(current):
            return current
        if current.kind in ("subscript", "method") and current.inputs:
            current = current.inputs[0]
            continue
        return None
    return None


def _follow(owner: Value, path: tuple[str, ...], via: str) -> Iterator[Written]:
    """``instance.fc1.weight`` → (fc1 layer, "weight"); ``instance.w`` → the parameter tensor."""
    current = [owner]
    for index, name in enumerate(path):
        last = index == len(path) - 1
        following: list[Value] = []
        for value in current:
            for option in options_of(value):
                if isinstance(option, Layer) and last:
                    yield Written(option, name, via)
                elif isinstance(option, Instance) and option.attrs is not None and name in option.attrs:
                    attribute = option.attrs[name]
                    if last:
                        for item in options_of(attribute):
                            parameter = _parameter_tensor(item) if isinstance(item, Tensor) else None
                            if parameter is not None:
                                yield Written(parameter, "", via)
                    else:
                        following.append(attribute)
        current = following


def _of_type(sem: "FileSemantics", write: InitWrite, qualified: str) -> Iterator[Written]:
    local = sem.local_class(qualified)
    if local is not None:
        if sem.is_module_class(local) and write.path:
            yield from _follow(sem.generic_instance(local), write.path, "class")
        return
    if catalog.layer_op(qualified) is None or len(write.path) != 1:
        return
    for layer, at in _coverage(sem, write):
        if layer.qualified == qualified:
            yield Written(layer, write.path[0], "type", at)


def _coverage(sem: "FileSemantics", write: InitWrite) -> list[tuple[Layer, Optional[int]]]:
    """The layers an isinstance-guarded init may reach, each with when it does: those of the
    models its loop walks or that ``apply`` it; every layer of the file (when unknown) when
    that cannot be told."""
    root = write.root
    loop = loop_over(write.site, root) if root else None
    models: list[tuple[Value, Optional[int]]] = []
    family = False
    if loop is not None and loop[0] in MODULE_ITERATORS:
        models = list(_loop_receivers(sem, loop[1]))
    elif write.site.function is not None and root in _param_names(write.site.function):
        models = list(applied_to(sem, write.site.function))
        if not models and write.site.function.cls is not None:
            # ``def _init_weights(self, module)`` of a (Hugging Face) base model class: applied to
            # the modules of that class's models, i.e. of its subclasses in this file.
            models = list(_family_instances(sem, write.site.function.cls))
            family = True
    if not models:
        return [(layer, None) for layer in sem.layers]
    layers: list[tuple[Layer, Optional[int]]] = []
    seen: set[tuple[int, Optional[int]]] = set()
    for model, at in models:
        for item in modules_of(model):
            if isinstance(item, Layer) and (id(item), at) not in seen:
                seen.add((id(item), at))
                layers.append((item, at))
    if family and not layers:
        return [(layer, None) for layer in sem.layers]  # a base class whose models are all defined elsewhere
    return layers


# Methods of a library base class that apply the model's ``_init_weights`` to all its modules
# (Hugging Face's ``PreTrainedModel.post_init``): when a model of this file calls one.
_APPLIES_INIT_WEIGHTS = frozenset({"post_init", "init_weights", "initialize_weights"})


def _family_instances(sem: "FileSemantics", cls) -> Iterator[tuple[Value, Optional[int]]]:
    """The instances of a model class and of its subclasses defined in this file, each with
    when its ``post_init()`` ran (None when it calls none)."""
    posts: dict[int, int] = {}
    for site in sem.method_calls(*_APPLIES_INIT_WEIGHTS):
        if site.function is None or site.function.cls is None or sem.find_method(site.function.cls, site.method) is not None:
            continue
        for (receiver, _, _), at in observations(sem, site.node):
            if at is not None:
                for option in options_of(receiver):
                    posts[id(option)] = max(posts.get(id(option), 0), at)
    for candidate in sem.module_classes():
        current, seen = [candidate], set()
        while current:
            klass = current.pop()
            if id(klass) in seen:
                continue
            seen.add(id(klass))
            if klass is cls:
                for instance in options_of(sem.generic_instance(candidate)):
                    yield instance, posts.get(id(instance))
                break
            current.extend(sem.local_bases(klass))


def _param_names(function: FunctionInfo) -> set[str]:
    return {param.name.value for param in function.params}


def applied_to(sem: "FileSemantics", function: FunctionInfo) -> Iterator[tuple[Value, Optional[int]]]:
    """The models a function is given to — ``model.apply(function)``, timm's
    ``named_apply(function, model)``, also through ``functools.partial`` — each with when."""
    for site in sem.method_calls("apply"):
        for (receiver, args, _), at in observations(sem, site.node):
            if args and _is_function(args[0], function):
                yield receiver, at
    for site in sem.info.calls:
        if site.qualified is None or not site.qualified.endswith(".named_apply"):
            continue
        for (_, args, kwargs), at in observations(sem, site.node):
            fn = args[0] if args else kwargs.get("fn")
            module = args[1] if len(args) > 1 else kwargs.get("module")
            if fn is not None and module is not None and _is_function(fn, function):
                yield module, at


def _is_function(value: Value, function: FunctionInfo) -> bool:
    """``function`` itself, or ``functools.partial(function, ...)``."""
    for option in options_of(value):
        if isinstance(option, FunctionRef) and option.function is function:
            return True
        if isinstance(option, Obj) and option.qualified == "functools.partial" and option.args and _is_function(option.args[0], function):
            return True
    return False


def guard_types(site: CallSite, name: str) -> Optional[list[str]]:
    """The classes of the ``if isinstance(name, ...)`` (or ``if type(name) == X``,
    ``type(name) in (X, Y)``, ``type(name) == X or type(name) == Y``) a call sits directly in
    (resolved names).

    [] when there is no such guard; None when a further condition inside it selects
    particular layers (``if name.startswith("head")``)."""
    for depth in range(len(site.guards) - 1, -1, -1):
        test, in_body = site.guards[depth]
        if not in_body:
            continue
        types = _guarded_types(test, name)
        if types is not None:
            if depth != len(site.guards) - 1:
                return None
            return [q for q in (site.scope.resolve(e) for e in types) if q]
    return []


def _guarded_types(test: cst.BaseExpression, name: str) -> Optional[list[cst.BaseExpression]]:
    """The type expressions a condition requires ``name`` to be an instance of; None when it
    does not test ``name``'s type."""
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance":
        if len(test.args) >= 2 and _is_name(test.args[0].value, name):
            return _elements(test.args[1].value)
        return None
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        left, comparison = test.left, test.comparisons[0]
        if (
            isinstance(left, cst.Call) and isinstance(left.func, cst.Name) and left.func.value == "type"
            and len(left.args) == 1 and _is_name(left.args[0].value, name)
        ):
            if isinstance(comparison.operator, (cst.Equal, cst.Is)):
                return [comparison.comparator]
            if isinstance(comparison.operator, cst.In):
                return _elements(comparison.comparator)
        return None
    if isinstance(test, cst.BooleanOperation):
        left, right = _guarded_types(test.left, name), _guarded_types(test.right, name)
        if isinstance(test.operator, cst.And):
            return left if left is not None else right
        if left is not None and right is not None:
            return left + right  # ``type(m) == nn.Linear or type(m) == nn.Conv2d``
    return None


def _is_name(expr: cst.BaseExpression, name: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == name


def _elements(types: cst.BaseExpression) -> list[cst.BaseExpression]:
    return [e.value for e in types.elements] if isinstance(types, (cst.Tuple, cst.List)) else [types]


def loop_over(site: CallSite, name: str) -> Optional[tuple[str, cst.Call]]:
    """(``modules`` | ``parameters`` | …, the iterator call) when ``name`` is the variable of an
    enclosing ``for`` over ``X.modules()``, ``X.named_parameters()`` and the like."""
    for loop in reversed(site.loops):
        if not isinstance(loop, cst.For) or name not in _bound_names(loop.target):
            continue
        iterable = loop.iter
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) and iterable.func.value == "enumerate" and iterable.args:
            iterable = iterable.args[0].value
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute):
            method = iterable.func.attr.value
            if method in MODULE_ITERATORS or method in _PARAMETER_ITERATORS:
                return method, iterable
        return None
    return None


def _selects_all_weights(site: CallSite, loop: tuple[str, cst.Call]) -> bool:
    """Whether the conditions between a parameter loop and the write keep every weight: none
    that mention the loop's variables, or only ``p.dim() > 1`` / ``p.ndim >= 2`` /
    ``"weight" in name`` (the standard "every weight matrix" idiom)."""
    loop_node = next((l for l in site.loops if isinstance(l, cst.For) and l.iter is loop[1]), None)
    names = _bound_names(loop_node.target) if loop_node is not None else set()
    for test, in_body in site.guards:
        mentioned = {n.value for n in iter_tree(test) if isinstance(n, cst.Name)} & names
        if not mentioned:
            continue
        if not in_body or not _weights_test(test):
            return False
    return True


def _weights_test(test: cst.BaseExpression) -> bool:
    if isinstance(test, cst.Comparison):
        strings = [n for n in iter_tree(test) if isinstance(n, cst.SimpleString)]
        if strings:
            return all(s.evaluated_value == "weight" for s in strings)
        return any(
            isinstance(n, cst.Attribute) and n.attr.value in ("dim", "ndim", "ndimension") for n in iter_tree(test)
        )
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Attribute) and test.func.attr.value == "endswith":
        return [a.value.evaluated_value for a in test.args if isinstance(a.value, cst.SimpleString)] == ["weight"]
    return False


def loop_source_names(write: InitWrite) -> set[str]:
    """For a write to a loop variable (``for p in self.prompts: init(p)``), the attribute and
    variable names the loop iterates over (``prompts``); empty otherwise."""
    root = write.root
    if root is None:
        return set()
    for loop in reversed(write.site.loops):
        if isinstance(loop, cst.For) and root in _bound_names(loop.target):
            return {
                node.attr.value if isinstance(node, cst.Attribute) else node.value
                for node in iter_tree(loop.iter)
                if isinstance(node, (cst.Attribute, cst.Name))
            }
    return set()


def _bound_names(target: cst.BaseExpression) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        names: set[str] = set()
        for element in target.elements:
            names |= _bound_names(element.value)
        return names
    return set()


def _loop_receivers(sem: "FileSemantics", call: cst.Call) -> Iterator[tuple[Value, Optional[int]]]:
    for (receiver, _, _), at in observations(sem, call):
        for option in options_of(receiver):
            yield option, at


def loop_receiver_unknown(sem: "FileSemantics", write: InitWrite) -> bool:
    """Whether the write is in a loop over some model's parameters/modules that dllint cannot
    see (the loop ran in no evaluation, or over a model of unknown content)."""
    loop = loop_over(write.site, write.root) if write.root else None
    if loop is None:
        return False
    receivers = [receiver for receiver, _ in _loop_receivers(sem, loop[1])]
    return not receivers or any(not isinstance(r, (Instance, Container, Layer)) or (isinstance(r, Instance) and r.cls is None) for r in receivers)


def modules_of(model: Value, depth: int = 0, seen: Optional[set[int]] = None) -> Iterator[Value]:
    """A model and everything it holds: layers, sub-models, containers, ``nn.Parameter`` tensors."""
    seen = set() if seen is None else seen
    if depth > 12 or id(model) in seen:
        return
    seen.add(id(model))
    if isinstance(model, Merge):
        for option in model.options:
            yield from modules_of(option, depth + 1, seen)
        return
    yield model
    children: list[Value] = []
    if isinstance(model, Instance) and model.attrs:
        children = list(model.attrs.values())
    elif isinstance(model, Container):
        children = list(model.items)
    for child in children:
        if isinstance(child, (Instance, Container, Layer, Merge)):
            yield from modules_of(child, depth + 1, seen)
        elif isinstance(child, Tensor) and child.kind == "parameter":
            if id(child) not in seen:
                seen.add(id(child))
                yield child


def _parameters_of(model: Value, via: str, at: Optional[int] = None) -> Iterator[Written]:
    for item in modules_of(model):
        if isinstance(item, Layer):
            yield Written(item, "weight", via, at)
        elif isinstance(item, Tensor):
            yield Written(item, "", via, at)


# --- parameters and where they are used ---------------------------------------------------------

def weight_uses(sem: "FileSemantics") -> dict[int, list["WeightUse"]]:
    """For each trainable weight tensor used as the weight of a matrix product — ``x @ W``,
    ``torch.matmul``/``mm``/``bmm``/``einsum``, ``F.linear``/``F.conv*d`` — by id of the node that
    creates it (one entry for all the instances a class is built as), every such use, in the
    forward passes and in module-level code (``semantics/weights.py``). The weight may be
    transposed or reshaped on the way (``W.t()``), not rescaled or normalised (``W * scale``,
    ``F.normalize(W)``: then it is not the raw weight that multiplies)."""
    raw = sem.raw_weights
    return {key: uses for key, uses in raw.uses.items() if raw.trainable(uses[0].parameter)}


_PRODUCTS = frozenset({"torch.matmul", "torch.mm", "torch.bmm", "torch.einsum", "torch.nn.functional.linear"})


# Operations whose output does not carry the magnitude of their input: discrete selections
# (the input's scale only acts as a temperature), shape queries, comparisons, fresh tensors
# shaped like the input.
_SCALE_FREE = frozenset(
    {
        "argmax", "argmin", "topk", "sort", "argsort", "multinomial", "gumbel_softmax", "one_hot", "new_zeros",
        "new_ones", "new_empty", "new_full", "new_tensor", "size", "dim", "numel", "eq", "ne", "gt", "lt", "ge", "le",
        "bool", "long", "int", "nonzero", "sign", "isnan", "isinf", "isfinite", "any", "all", "item", "bucketize",
        "searchsorted", "zeros_like", "ones_like", "empty_like", "full_like",
    }
)


def scale_reaches_weights(graph: "ForwardGraph", tensor: Tensor, limit: int = 400) -> bool:
    """Whether the *magnitude* of a tensor (a layer's output) is carried into another layer with
    weights (or a matrix product): through activations, dropout, reshapes, pooling, bias adds,
    unknown calls (an attention function from elsewhere); not through a normalisation (BatchNorm,
    LayerNorm, ``F.normalize``: the scale is divided away), a residual add or gate (a merge), or
    a discrete selection (``argmax``, ``gumbel_softmax``: the scale only sets a temperature).
    This is what decides whether a too-large or too-small init compounds with depth."""
    stack = [(consumer, tensor) for consumer in graph.consumers.get(id(tensor), ())]
    seen: set[int] = set()
    while stack and len(seen) < limit:
        current, source = stack.pop()
        if current.kind == "method" and current.target in _LIKE_METHODS and current.inputs and current.inputs[0] is not source:
            continue  # ``y.type_as(x)``: x only lends its dtype or shape
        if id(current) in seen:
            continue
        seen.add(id(current))
        op = current.module_op
        if op is not None and op.kind == "norm":
            continue
        if op is not None and op.trainable:
            return True
        if current.kind == "binop" and current.target == "MatrixMultiply":
            return True
        if current.kind in ("function", "method") and isinstance(current.target, str):
            name = current.target.rsplit(".", 1)[-1]
            if name in _SCALE_FREE:
                continue
            if current.target in _PRODUCTS or name in ("matmul", "mm", "bmm", "einsum"):
                return True
        if current.kind == "binop" and not _offset(current):
            continue  # a residual add, a gate, an attention product of two activations
        if current.kind == "merge":
            continue
        stack.extend((consumer, current) for consumer in graph.consumers.get(id(current), ()))
    return False


_LIKE_METHODS = frozenset({"type_as", "view_as", "reshape_as", "expand_as", "to", "new_zeros", "new_ones", "new_full", "new_empty"})


def _offset(tensor: Tensor) -> bool:
    """``h + b``, ``h * 0.5``: one flowing operand, the other a parameter or a constant."""
    flowing = [s for s in tensor.inputs if isinstance(s, Tensor) and s.kind not in ("fresh", "parameter")]
    return len(flowing) <= 1


def rescaled(graph: "ForwardGraph", product: Tensor) -> bool:
    """Whether a product's output is multiplied or divided by a scale right away
    (``F.linear(x, W) * self.scale``: an equalised-learning-rate layer)."""
    for consumer in graph.consumers.get(id(product), ()):
        if consumer.kind == "binop" and consumer.target in ("Multiply", "Divide"):
            others = [s for s in consumer.inputs if s is not product]
            if others and not any(isinstance(o, Tensor) and o.kind not in ("fresh",) for o in others):
                return True
    for source in product.inputs:
        if isinstance(source, Tensor) and source.kind == "binop" and source.target in ("Multiply", "Divide"):
            flowing = [s for s in source.inputs if isinstance(s, Tensor) and s.kind not in ("fresh", "parameter")]
            if len(flowing) <= 1 and len(flowing) < len(source.inputs):
                return True
    return False


# --- assignments that fill a parameter ------------------------------------------------------------

def filled_by_assignment(sem: "FileSemantics") -> set[str]:
    """Attribute names whose values some statement assigns in place: ``x.w.data = t``,
    ``x.w[...] = t``, ``x.w.data[...] = t``, ``x.w.data.copy_`` is a call (see :func:`collect`)."""
    names: set[str] = set()
    for node in iter_statements(sem.module):  # assignments are statements: no need to walk expressions
        targets: list[cst.BaseExpression] = []
        if type(node) is cst.Assign:
            targets = [t.target for t in node.targets]
        elif type(node) in (cst.AugAssign, cst.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, cst.Subscript):
                target = target.value
            elif isinstance(target, cst.Attribute) and target.attr.value == "data":
                target = target.value
            else:
                continue
            stripped, _ = _strip(target)
            if isinstance(stripped, cst.Attribute):
                names.add(stripped.attr.value)
            elif isinstance(stripped, cst.Name):
                names.add(stripped.value)
    return names


# --- what follows a layer -----------------------------------------------------------------------

_PASS_THROUGH = ("dropout", "identity", "reshape", "pad", "pool")


def next_operations(graph: "ForwardGraph", tensor: Tensor, limit: int = 200) -> list[Optional[Tensor]]:
    """The first operation on each path out of a layer's output that is not a pass-through
    (dropout, reshape, identity, padding, pooling, a bias add or a scalar scale): an activation,
    a normalisation, another layer, a merge (residual add, gate), an unknown call… ``None`` for a
    path that ends (the tensor is returned or unused)."""
    found: list[Optional[Tensor]] = []
    stack = [tensor]
    seen: set[int] = set()
    while stack and len(seen) < limit:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        consumers = graph.consumers.get(id(current), ())
        if not consumers:
            found.append(None)
        for consumer in consumers:
            op = consumer.module_op
            passes = (op is not None and op.kind in _PASS_THROUGH) or (consumer.kind == "binop" and _offset(consumer)) or (
                consumer.kind in ("subscript", "unary")
            ) or (consumer.kind == "method" and op is None and consumer.target in ("contiguous", "clone", "float", "half"))
            if passes:
                stack.append(consumer)
            else:
                found.append(consumer)
    return found


def in_residual_branch(graph: "ForwardGraph", tensor: Tensor, limit: int = 3000) -> bool:
    """Whether the tensor lies on a residual branch: downstream of it, an addition joins its path
    with a tensor that is not computed from it but from what came *before* it
    (``x + f(norm(x))``, a transformer block; ``x + bn(conv(x))``, a ResNet block)."""
    from dllint.semantics.loops import ancestors

    upstream = {id(t) for t in ancestors(tensor, limit=limit) if t is not tensor}
    if not upstream:
        return False
    downstream: dict[int, Tensor] = {id(tensor): tensor}
    stack = [tensor]
    while stack and len(downstream) < limit:
        current = stack.pop()
        for consumer in graph.consumers.get(id(current), ()):
            if id(consumer) not in downstream:
                downstream[id(consumer)] = consumer
                stack.append(consumer)
    for merge in downstream.values():
        if merge.kind != "binop" or merge.target not in ("Add", "Subtract") or _offset(merge):
            continue
        for other in merge.inputs:
            if isinstance(other, Tensor) and id(other) not in downstream and (
                id(other) in upstream or any(id(a) in upstream for a in ancestors(other, limit=500))
            ):
                return True
    return False


def applications(sem: "FileSemantics") -> dict[int, list[tuple["ForwardGraph", Tensor]]]:
    """For each layer construction (by id of node), every application of it in every graph."""
    found: dict[int, list[tuple["ForwardGraph", Tensor]]] = {}
    for graph in sem.all_graphs():
        for tensor, layer in graph.module_applications():
            found.setdefault(id(layer.node), []).append((graph, tensor))
    return found
