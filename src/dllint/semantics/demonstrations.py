"""Networks a notebook only demonstrates: it builds them, prints them, runs them forward,
initialises or inspects their parameters — and never trains them.

Teaching notebooks build networks to show an API ("three ways to write a Sequential",
nesting modules, parameter sharing, how ``apply(init_fn)`` works). Whether such a network
would train well is moot: nobody trains it. A notebook cannot be imported by other code, so
what its cells do with a network is all that is ever done with it.

*Trained* errs toward yes. A network (an instance of a notebook class, a Sequential or layer
built there — every object holding it or held by it counts with it) is trained when:

* it, its ``parameters()``/``state_dict()``, a layer or a parameter of it reaches a call this
  file cannot see into: an optimizer, ``torch.save``/``torch.onnx``/``torch.jit``, gradient
  clipping, a framework's ``fit``, a helper of another module (``d2l.train_ch5(net, ...)``), a
  method of an object the evaluator does not know, a model method it does not know
  (``net.fit(...)``), or a same-file function too deep to follow;
* a ``backward()`` that runs in a loop, or is followed by an optimizer step, reaches it
  (a single ``y.backward()`` to print the gradients is a demonstration);
* a same-file function or class that builds it is itself handed to such a call
  (``d2l.train(get_net, ...)``).

Calls that only look (``print``, ``id``, ``isinstance``, torch functions other than the ones
above, ``nn.init``, a model's own methods such as ``parameters()``, ``apply``, ``to``,
``state_dict``) do not train. A class the notebook never builds is not a demonstration: it
may be the first cell of a notebook still being written.

The fact holds only for ``.ipynb`` files whose every root was evaluated to the end, that do not
export code (nbdev's ``#| export`` cells are a library's source), and where nothing is saved
without dllint telling what. :meth:`Demonstrations.only_demonstrated` answers for a node a rule
reports: the networks it is about (the class it sits in, the layers built or applied there, the
parameters an init write there overwrites, the raw weight tensors made there) are all only
demonstrated.
"""

from __future__ import annotations

import builtins
import re
from typing import TYPE_CHECKING, Iterator

import libcst as cst

from dllint.semantics.inits import written
from dllint.semantics.loops import ancestors
from dllint.semantics.values import (
    AttributeOf,
    ClassRef,
    Container,
    FunctionRef,
    Instance,
    Layer,
    Merge,
    Obj,
    ParameterOf,
    Reference,
    Starred,
    SuperOf,
    Tensor,
    Unknown,
    Value,
)

if TYPE_CHECKING:
    from dllint.semantics import FileSemantics
    from dllint.semantics.scopes import ClassInfo

# nbdev and similar tools export cells marked so into a package: that code is a library's.
_EXPORTS = re.compile(r"^\s*#\s*\|?\s*(export|exports|exporti|default_exp)\b", re.M)

# A module's own methods: they build, move, switch, inspect or initialise it.
_MODULE_METHODS = frozenset({
    "parameters", "named_parameters", "children", "named_children", "modules", "named_modules", "buffers",
    "named_buffers", "state_dict", "load_state_dict", "apply", "to", "cuda", "cpu", "float", "double", "half",
    "bfloat16", "type", "eval", "train", "zero_grad", "requires_grad_", "add_module", "register_module",
    "register_parameter", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_backward_hook", "forward", "extra_repr", "get_parameter",
    "get_submodule", "append", "extend", "insert", "keys", "values", "items", "__getitem__", "__len__",
    "reset_parameters", "share_memory", "initialize", "flatten_parameters",
})
# torch functions that train, save or export what they are given (the rest compute or build).
_TORCH_TRAINING = (
    "torch.optim.", "torch.save", "torch.onnx.", "torch.jit.", "torch.export", "torch.nn.utils.", "torch.distributed",
    "torch.utils.", "torch.autograd.", "torch.func.", "torch.cuda.amp.", "torch.amp.",
)
_SAVING = ("torch.save", "torch.onnx.", "torch.jit.save", "torch.jit.trace", "torch.export")
# Library calls that only show what they are given.
_SHOWING = frozenset({
    "IPython.display.display", "torchsummary.summary", "torchinfo.summary", "pprint.pprint", "pprint.pformat",
})
# The standard library's containers and iteration helpers: what goes in is still the same object.
_PLAIN_PYTHON = ("builtins.", "collections.", "itertools.", "math.", "operator.")
_BUILTINS = frozenset(dir(builtins))
_DEPTH = 5


class Demonstrations:
    """The networks of one notebook that are trained (``sem.demonstrations``)."""

    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        self.applies = _applies(sem)
        self._trained: set[int] = set()
        self._escaped_functions: set[int] = set()  # FunctionDef nodes (ids) handed to unseen calls
        self._escaped_classes: set[int] = set()  # ClassInfo ids
        if not self.applies:
            return
        evaluator = sem.evaluator
        self._graph = _ObjectGraph(sem)
        for _, value in self.unseen_uses():
            self._mark(value)
        for args in evaluator.not_inlined:
            for value in args:
                self._mark(value)
        for trace in sem.traces:
            for index, event in enumerate(trace.events):
                if event.kind == "backward" and (event.iterations or any(later.kind == "step" for later in trace.events[index + 1:])):
                    for tensor in ancestors(event.target):
                        self._trained.add(id(tensor))
                        if tensor.kind == "module":
                            self._mark(tensor.target)
        self._trained = self._graph.closure(self._trained)

    # --- the fact ------------------------------------------------------------------------------

    def only_demonstrated(self, node: cst.CSTNode) -> bool:
        """Whether every network a finding at ``node`` is about is only demonstrated."""
        if not self.applies:
            return False
        structure = self.sem.structure
        for outer in structure.ancestors(node):
            if isinstance(outer, cst.FunctionDef) and id(outer) in self._escaped_functions:
                return False
            if isinstance(outer, cst.ClassDef):
                cls = self.sem.class_of(outer)
                if cls is not None and self.sem.is_module_class(cls):
                    return not self._class_trained(cls)
        subjects = list(self._subjects(node))
        return bool(subjects) and not any(id(subject) in self._trained for subject in subjects)

    # --- what trains -----------------------------------------------------------------------------

    def unseen_uses(self) -> Iterator[tuple[cst.Call, Value]]:
        """The values handed to calls this file cannot see into (see the module doc), with
        the call."""
        sem = self.sem
        for site in sem.info.calls:
            node = site.node
            method = node.func.attr.value if isinstance(node.func, cst.Attribute) else None
            for callee, args, kwargs in sem.observed(node):
                given = (*args, *kwargs.values())
                if isinstance(callee, (FunctionRef, ClassRef)):
                    continue  # followed: the evaluator runs it with these arguments
                if method is None and _is_network(callee):
                    continue  # a forward pass
                qualified = callee.qualified if isinstance(callee, Reference) else None
                if qualified is None and isinstance(callee, Unknown) and isinstance(node.func, cst.Name) and node.func.value in _BUILTINS:
                    qualified = f"builtins.{node.func.value}"  # ``id(net[0])``
                if qualified is not None:
                    if _shows(qualified):
                        continue
                    handed = [*given, *self._receivers_in(node)]
                    if qualified.startswith(_SAVING) and not any(True for value in handed for _ in self._networks(value, 0)):
                        self.applies = False  # saves something dllint cannot tell: maybe a network
                    yield from ((node, value) for value in handed)
                    continue
                if method is not None and self._looks_only(callee, method):
                    continue
                for value in (callee, *given, *self._receivers_in(node)):
                    yield node, value

    def _looks_only(self, receiver: Value, method: str) -> bool:
        """Whether ``receiver.method(...)`` only builds, inspects or initialises."""
        options = receiver.options if isinstance(receiver, Merge) else (receiver,)
        for option in options:
            if isinstance(option, (Layer, Container)):
                # A torch layer's or container's methods build, inspect or run it; any other
                # name is a submodule's (``net.conv(x)``, ``self.fc(x)``): a forward.
                continue
            if _is_network(option):
                cls = option.cls  # type: ignore[union-attr]
                if method in _MODULE_METHODS or self._graph.held_as(option, method) or self.sem.find_method(cls, method) is not None:
                    continue  # its own method, or ``self.encoder(x)``: a forward of a submodule
                return False  # ``net.fit(...)``: a method dllint does not see
            if isinstance(option, Instance) and option.cls is not None and self.sem.find_method(option.cls, method) is not None:
                continue  # a method of a class of this file: followed
            if isinstance(option, (Tensor, AttributeOf, ParameterOf)) or type(option).__name__ in ("Constant", "Param"):
                continue  # tensor methods (``weight.data.normal_()``), string formatting
            if isinstance(option, SuperOf) or (isinstance(option, Container) and option.kind in ("list", "tuple", "dict")):
                continue
            if isinstance(option, Obj) and (option.qualified == "parameters" or option.qualified.startswith(("builtins.", "dict."))):
                continue
            return False
        return True

    def _receivers_in(self, node: cst.Call) -> Iterator[Value]:
        """The receivers of the method calls written in a call's arguments
        (``torch.save(net.state_dict(), path)``: ``net``), whatever their results were."""
        stack: list[cst.CSTNode] = [arg.value for arg in node.args]
        while stack:
            current = stack.pop()
            if isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
                for receiver, _, _ in self.sem.observed(current):
                    yield receiver
            stack.extend(child for child in current.children if isinstance(child, cst.CSTNode))

    def _mark(self, value: Value) -> None:
        for network in self._networks(value, 0):
            if isinstance(network, FunctionRef):
                self._escaped_functions.add(id(network.function.node))
                if network.bound_self is not None:
                    self._mark(network.bound_self)
            elif isinstance(network, ClassRef):
                self._escaped_classes.add(id(network.cls))
            elif isinstance(network, Tensor):
                self._trained.update(id(tensor) for tensor in ancestors(network))
            else:
                self._trained.add(id(network))

    def _networks(self, value: Value, depth: int) -> Iterator[Value]:
        """The networks, weights and same-file functions/classes a value is or carries."""
        if depth > _DEPTH:
            return
        if isinstance(value, Merge):
            for option in value.options:
                yield from self._networks(option, depth + 1)
        elif isinstance(value, Starred):
            yield from self._networks(value.value, depth + 1)
        elif _is_network(value) or isinstance(value, (FunctionRef, ClassRef)):
            yield value
        elif isinstance(value, Container):
            for item in value.items:
                yield from self._networks(item, depth + 1)
        elif isinstance(value, Obj):
            for argument in (*value.args, *value.kwargs.values()):
                yield from self._networks(argument, depth + 1)
        elif isinstance(value, AttributeOf):
            yield from self._networks(value.owner, depth + 1)
        elif isinstance(value, ParameterOf):
            yield from self._networks(value.model, depth + 1)
        elif isinstance(value, Tensor) and value.kind in ("parameter", "fresh"):
            yield value

    # --- what a finding is about -------------------------------------------------------------

    def _class_trained(self, cls: "ClassInfo") -> bool:
        family = self._graph.subclasses(cls)
        if any(id(member) in self._escaped_classes for member in family):
            return True
        evaluator = self.sem.evaluator
        built = [
            node for member in family for _, _, node in evaluator.constructions.get(id(member), ())
        ]
        if not built:
            return True  # never built here: not a demonstration (a notebook still being written)
        structure = self.sem.structure
        if any(
            isinstance(outer, cst.FunctionDef) and id(outer) in self._escaped_functions
            for node in built for outer in structure.ancestors(node)
        ):
            return True
        return any(
            id(instance) in self._trained
            for member in family for instance in evaluator.configurations(member)
        )

    def _subjects(self, node: cst.CSTNode) -> Iterator[Value]:
        sem = self.sem
        yield from self._graph.built_at(node)
        for callee, _, _ in sem.observed(node) if isinstance(node, cst.Call) else ():
            for option in callee.options if isinstance(callee, Merge) else (callee,):
                if _is_network(option):
                    yield option
        for write in sem.init_writes:
            if write.node is node:
                for target in written(sem, write):
                    yield target.owner


class _ObjectGraph:
    """Which network objects hold which: a trained object trains what holds it and what it holds."""

    def __init__(self, sem: "FileSemantics") -> None:
        self.sem = sem
        evaluator = sem.evaluator
        sem.traces  # noqa: B018 - every root evaluated: every object built
        self._children: dict[int, list[Value]] = {}
        self._parents: dict[int, list[Value]] = {}
        self._built_at: dict[int, list[Value]] = {}
        objects: list[Value] = [*evaluator.containers, *evaluator.layers]
        for cls in sem.module_classes():
            objects.extend(evaluator.configurations(cls))
        for value in objects:
            self._link(value)
        for layer in evaluator.layers:
            for node in (layer.node, layer.instance_site, layer.built_by):
                if node is not None:
                    self._built_at.setdefault(id(node), []).append(layer)
        for tensor in evaluator.tensors:
            if tensor.kind in ("parameter", "fresh") and tensor.node is not None:
                self._built_at.setdefault(id(tensor.node), []).append(tensor)

    def _link(self, value: Value) -> None:
        if id(value) in self._children:
            return
        if isinstance(value, Instance):
            children = list(value.attrs.values()) if value.attrs else []
        elif isinstance(value, Container):
            children = list(value.items)
        elif isinstance(value, Merge):
            children = list(value.options)
        else:
            children = []
        self._children[id(value)] = children
        for child in children:
            self._parents.setdefault(id(child), []).append(value)
            if isinstance(child, (Instance, Container, Merge)):
                self._link(child)
            elif isinstance(child, Tensor):
                self._children.setdefault(id(child), [])

    def closure(self, trained: set[int]) -> set[int]:
        """Everything holding a trained object, then everything those hold."""
        result = set(trained)
        stack = list(trained)
        while stack:
            key = stack.pop()
            for parent in self._parents.get(key, ()):
                if id(parent) not in result:
                    result.add(id(parent))
                    stack.append(id(parent))
        stack = list(result)
        while stack:
            key = stack.pop()
            for child in self._children.get(key, ()):
                if id(child) not in result:
                    result.add(id(child))
                    stack.append(id(child))
                    if isinstance(child, Tensor):
                        result.update(id(tensor) for tensor in ancestors(child))
        return result

    def held_as(self, value: Value, name: str) -> bool:
        """Whether ``value`` is the attribute ``name`` of an instance (``self.encoder(x)``)."""
        return any(
            isinstance(parent, Instance) and parent.attrs is not None and parent.attrs.get(name) is value
            for parent in self._parents.get(id(value), ())
        )

    def built_at(self, node: cst.CSTNode) -> list[Value]:
        return self._built_at.get(id(node), [])

    def subclasses(self, cls: "ClassInfo") -> list["ClassInfo"]:
        """The class and the classes of this file derived from it."""
        family = [cls]
        changed = True
        while changed:
            changed = False
            for other in self.sem.info.classes:
                if other in family:
                    continue
                if any(self.sem.local_class(base) in family for base in other.bases):
                    family.append(other)
                    changed = True
        return family


def _applies(sem: "FileSemantics") -> bool:
    if not sem.source.is_notebook or exports_code(sem):
        return False
    return all(trace.complete for trace in sem.traces)


def exports_code(sem: "FileSemantics") -> bool:
    """Whether a notebook exports its cells into a package (nbdev): then they are a library's source."""
    return bool(_EXPORTS.search(sem.text))


def _shows(qualified: str) -> bool:
    if qualified.startswith(_PLAIN_PYTHON) or qualified in _SHOWING:
        return True
    return qualified.startswith("torch.") and not qualified.startswith(_TORCH_TRAINING)


def _is_network(value: Value) -> bool:
    if isinstance(value, (Layer, Container)):
        return not isinstance(value, Container) or value.kind in ("sequential", "module_list", "module_dict")
    return isinstance(value, Instance) and value.cls is not None
