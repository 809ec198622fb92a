"""What calls into torch, the standard library and other libraries do, for the evaluator.

Layer and container constructors build :class:`~dllint.semantics.values.Layer` and
:class:`~dllint.semantics.values.Container` values; tensor functions extend the dataflow graph;
training-loop methods (``backward``, ``step``, ``zero_grad``, clipping, ``eval``/``train``)
become events of the trace; wrappers (``DataParallel``, ``torch.compile``, ``.to()``) return the
model they wrap; models from a zoo, a checkpoint or ``from_pretrained`` are instances whose
class is known only by name.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Optional

import libcst as cst

from dllint.project import WILDCARD
from dllint.semantics import catalog
from dllint.semantics.arrays import FROM_ARRAY, upper_bound
from dllint.semantics.catalog import may_be_project_function
from dllint.semantics.modes import model_like
from dllint.semantics.naming import as_string, string_method
from dllint.semantics.paths import State
from dllint.semantics.syntax import bind_arguments, keyword
from dllint.semantics.config_values import user_choice
from dllint.semantics.grad_clipping import clips_gradients
from dllint.semantics.values import (
    MODEL_COPIES,
    AttributeOf,
    Constant,
    Container,
    Instance,
    Layer,
    Merge,
    Obj,
    Param,
    Reference,
    Starred,
    SuperOf,
    Tensor,
    Unknown,
    Value,
    options_of,
)

if TYPE_CHECKING:
    from dllint.semantics.evaluator import Evaluator

_ZOO_PREFIXES = ("torchvision.models.", "timm.create_model", "torch.hub.load", "segmentation_models_pytorch.")

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

_NOT_MODEL_MODULES = ("torch.", "builtins.", "collections.", "typing.", "dataclasses.", "numpy.", "pathlib.", "logging.", "argparse.")



class LibraryMixin:
    """Calls of names defined outside this file (mixed into the evaluator)."""

    def _call_reference(self: "Evaluator", qualified: str, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call, state: State) -> Value:
        scope = self._frames[-1].scope
        framework = self._framework_call(qualified, args, kwargs, node, state)
        if framework is not None:
            return framework
        if qualified == "torch.nn.parallel.data_parallel" and len(args) >= 2:
            # ``data_parallel(self.main, x, device_ids)`` runs ``self.main(x)`` on each device
            inputs = args[1]
            return self._invoke(args[0], tuple(inputs.items) if isinstance(inputs, Container) and inputs.kind == "tuple" else (inputs,), {}, node, state)
        layer = catalog.layer_op(qualified)
        if layer is not None:
            if layer.kind == "container":
                return self._container(layer.family, qualified, args, node)
            bound = bind_arguments(node, layer.params)
            env = state.constants_named_in(node)
            site = self._instance_sites[-1] if self._instance_sites else None
            built_by = self._call_nodes[-1] if self._call_nodes else None
            value = Layer(layer, qualified, node, scope, bound, env, instance_site=site, built_by=built_by,
                          given=constants_given(layer.params, args, kwargs), choices=self._choices)
            self.layers.append(value)
            if self._building_instances:
                self.layer_builder[id(value)] = self._building_instances[-1]
            return value
        made = self._config_call(qualified, args, kwargs, node)
        if made is not None:
            return made
        op = catalog.function_op(qualified)
        if op is not None:
            return self._tensor("function", qualified, tuple(a for a in args if not isinstance(a, Starred)), node, op)
        if qualified in _CLIP_FUNCTIONS:
            self._event("clip", node, args[0] if args else Unknown())
            return self._tensor("call", qualified, (), node)
        if self._named_helper(qualified.rsplit(".", 1)[-1], args, node):
            return Constant(None)
        if qualified == "builtins.super":
            return SuperOf(self._frames[-1].self_value)
        if qualified == "builtins.range":
            count: Value = Unknown()
            folded = [a.value for a in args if isinstance(a, Constant)]
            if len(folded) == len(args) and all(isinstance(v, int) for v in folded) and folded:
                count = Constant(len(range(*folded)))
            return Obj(qualified, node, args, {"count": count})
        if qualified in ("builtins.enumerate", "builtins.zip", "builtins.reversed"):
            return Obj(qualified, node, args)
        if qualified == "builtins.str":
            return as_string(args) or Unknown()
        if qualified == "builtins.len" and len(args) == 1 and not kwargs:
            length = self.arrays.length(args[0])
            if length is not None:
                return Constant(length)
        if qualified in ("builtins.list", "builtins.tuple") and args:
            elements = self._iteration(args[0])
            return Container("list", elements, node) if elements is not None else Container("list", [], node, complete=False)
        if qualified == "builtins.setattr" and len(args) >= 3:
            owner, name, value = args[0], args[1], args[2]
            if isinstance(owner, Instance) and owner.attrs is not None and isinstance(name, Constant):
                owner.attrs[str(name.value)] = value
            return Constant(None)
        if qualified == "builtins.getattr" and len(args) >= 2 and isinstance(args[1], Constant):
            return (user_choice(args[1]) and self.any_of(args[0], Unknown())) or self._get_attribute(args[0], str(args[1].value))
        if qualified == "builtins.getattr" and len(args) == 2:
            return self.any_of(args[0], args[1]) or self.attribute_named_by_guard(args[0], node) or Unknown()
        if qualified == "collections.OrderedDict" or qualified == "builtins.dict":
            return self._dict_from(args, kwargs, node)
        if qualified == "torch.save" and len(args) >= 2:
            self._saved(args[0], args[1])
        if qualified in ("torch.load", "torch.jit.load", "torch.jit.script", "torch.compile", "torch.nn.DataParallel",
                         "torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.DataParallel",
                         "torchvision.models.feature_extraction.create_feature_extractor"):
            # (before the zoo: torchvision's ``create_feature_extractor`` is no zoo model)
            if qualified != "torch.load" and qualified != "torch.jit.load" and args:
                return args[0]  # wrappers return (a view of) the same model
            restored = self.checkpoints.restored(node, args[0] if args else None, state) if qualified == "torch.load" else None
            return restored if restored is not None else Instance(None, node, origin="loaded")
        weights = catalog.weights_call(qualified)
        if weights == "member":
            return Reference(catalog.WEIGHTS_MEMBER)  # (its ``.transforms()`` is a preset, below)
        if weights is not None:
            return Obj(catalog.WEIGHTS_PRESET if weights == "preset" else qualified, node, args, kwargs)
        if from_zoo(qualified):
            # attrs records what the code puts on it (``model.fc = nn.Linear(512, 10)``: a new head)
            return Instance(qualified, node, origin="zoo", attrs={})
        if qualified.endswith(".from_pretrained"):
            return Instance(qualified.rsplit(".", 1)[0], node, origin="pretrained")
        if qualified in _TENSOR_CONSTRUCTORS or (qualified == "torch.normal" and not any(isinstance(a, Tensor) for a in args)):
            made = self._tensor("fresh", qualified, (), node)
            if qualified in FROM_ARRAY and args:
                self.arrays.remember(made, self.arrays.shape(args[0]))
            return made
        if qualified == "torch.nn.Parameter":
            return self._tensor("parameter", qualified, tuple(a for a in args[:1] if isinstance(a, Tensor)), node)
        if qualified in catalog.SEQUENCE_FUNCTIONS and args and isinstance(args[0], Container):
            parts = tuple(item for item in args[0].items if isinstance(item, (Tensor, Param)))
            if parts and len(parts) == len(args[0].items):  # (of a list built in a loop: the elements seen)
                return self._tensor("function", qualified, parts, node)
        if qualified.startswith("torch.") and not qualified.startswith(("torch.optim", "torch.utils", "torch.cuda.amp", "torch.amp")) and any(
            isinstance(a, (Tensor, Param)) for a in args
        ):
            return self._tensor("function", qualified, tuple(a for a in args if isinstance(a, (Tensor, Param))), node)
        if _looks_like_class(qualified) or qualified.endswith(WILDCARD):
            # A class imported from elsewhere (another file of the run, a library): an
            # instance whose contents the project index may know.
            return Instance(qualified, node)
        if not qualified.startswith("builtins."):
            for value in (*args, *kwargs.values()):
                self._escape(value)
        if may_be_project_function(qualified):
            # A function of another file of the run, maybe: the call is recorded for the
            # project index (what it passes) and the trace (what the callee does there).
            self._event("call", node, Reference(qualified), args=args)
            self.external_calls.append(ExternalCall(qualified, node, args, kwargs, self._modes_of(args, kwargs, state)))
        result = Obj(qualified, node, args, kwargs)
        if qualified.startswith("numpy."):
            self.arrays.called(qualified, args, kwargs, result, partial(self._argument_bound, node))
        return result

    def _saved(self: "Evaluator", model: Value, path: Value) -> None:
        """``torch.save(model, "rnn.pt")``: the model class a checkpoint file holds, for the
        project index (``torch.load("rnn.pt")`` elsewhere gives it back)."""
        if not isinstance(path, Constant) or not isinstance(path.value, str):
            return
        for option in options_of(model):
            if isinstance(option, Instance):
                name = option.cls.qualified if option.cls is not None else option.qualified
                if name is not None:
                    self.saved.append((path.value, name))

    def _argument_bound(self: "Evaluator", call: cst.Call, position: int, name: str) -> Optional[int]:
        """The largest value the argument of ``call`` at that position (or keyword) can take."""
        written = keyword(call, name)
        if written is None:
            positional = [arg.value for arg in call.args if arg.keyword is None and not arg.star]
            written = positional[position] if position < len(positional) else None
        site = self.sem.site_of(call)
        return upper_bound(written, site.scope) if written is not None and site is not None else None

    def _modes_of(self: "Evaluator", args: tuple[Value, ...], kwargs: dict[str, Value], state: State) -> dict[int, str]:
        return {
            id(value): self._mode(value, state)
            for value in (*args, *kwargs.values())
            if any(isinstance(option, (Instance, Container, Layer)) or model_like(option) for option in options_of(value))
        }

    def _named_helper(self: "Evaluator", name: str, args: tuple[Value, ...], node: cst.Call) -> bool:
        """A helper from elsewhere whose name says it clips (``clip_gradient(optimizer, 5.)``)
        or clears gradients (``zero_grad(model)``, ``utils.optimizer_zero_grad(opt)``): its
        event, and True."""
        target = args[0] if args else Unknown()
        if _names_clipping(name):
            self._event("clip", node, target)
            return True
        if "zero_grad" in name:
            self._event("zero_grad", node, target)
            return True
        return False

    def _container(self: "Evaluator", family: str, qualified: str, args: tuple[Value, ...], node: cst.Call) -> Value:
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
                    if isinstance(arg, Starred):
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

    def _dict_from(self: "Evaluator", args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call) -> Value:
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

    def _method(self: "Evaluator", receiver: Value, name: str, args: tuple[Value, ...], kwargs: dict[str, Value], node: cst.Call, state: State) -> Value:
        handled = self._config_method(receiver, name, args, kwargs, node)
        if handled is not None:
            return handled
        if isinstance(receiver, Obj) and self.arrays.shape(receiver) is not None:
            result = Obj(f"numpy.ndarray.{name}", node, args, kwargs)
            return Constant(None) if self.arrays.method(receiver, name, args, result) else result
        if isinstance(receiver, SuperOf):
            owner = receiver.owner
            instance = next((o for o in options_of(owner) if isinstance(o, Instance)), None) if owner is not None else None
            if instance is not None and instance.cls is not None:
                method = self.sem.find_method(instance.cls, name, skip_self=True)
                if method is not None:
                    return self._call_function(method, args, kwargs, owner, node, state)
            return Unknown()
        framework = self._framework_method(receiver, name, args, kwargs, node, state)
        if framework is not None:
            return framework
        if name in ("eval", "train"):
            mode = "eval" if name == "eval" else _train_mode(args, kwargs)
            self._set_mode(receiver, mode, state)
            self._event("eval" if mode == "eval" else "train", node, receiver, mode=mode)
            return receiver
        if name == "backward":
            self._event("backward", node, receiver)
            return Constant(None)
        if name == "step" and not _is_scheduler(receiver) and not _scheduler_named(node):
            self._event("step", node, receiver, args=args)
            return Constant(None)
        if name == "zero_grad" or clears_gradients(node):
            self._event("zero_grad", node, receiver)
            return Constant(None)
        if name in _CLIP_METHODS or clips_gradients(self.sem.site_of(node)):
            self._event("clip", node, receiver)
            return Unknown()
        if name == "detach_":
            self.detached_in_place.append((node, receiver))
        if name == "requires_grad_":
            self._event("requires_grad", node, receiver, args=(args[0] if args else kwargs.get("requires_grad", Constant(True)),))
        if name == "requires_grad_" and isinstance(receiver, AttributeOf) and args and _is_false(args[0]):
            self._freeze(receiver)
            return receiver
        if name == "unscale_":
            self._event("unscale", node, receiver)
            return Constant(None)
        if isinstance(receiver, Merge) and all(isinstance(option, (Instance, Container, Layer)) for option in receiver.options):
            # One model in several configurations or paths: its own methods, with all of
            # them as ``self``; what returns the model returns them all.
            if name in _MODE_METHODS_RETURNING_SELF:
                return receiver
            if name in ("parameters", "named_parameters"):
                return Obj("parameters", node, (receiver,))
            classes = {id(option.cls) for option in receiver.options if isinstance(option, Instance)}
            first = receiver.options[0]
            if len(classes) == 1 and isinstance(first, Instance) and first.cls is not None:
                method = self.sem.find_method(first.cls, name)
                if method is not None:
                    if name == "forward":
                        return self._forward_call(receiver, args, node, state)
                    return self._call_function(method, args, kwargs, receiver, node, state)
            if name == "forward":
                return self._forward_call(receiver, args, node, state)
            return Unknown()
        if isinstance(receiver, Obj) and receiver.qualified in MODEL_COPIES and name in ("parameters", "named_parameters"):
            return Obj("parameters", node, (receiver,))  # an optimizer for a copy (MAML's inner loop)
        if isinstance(receiver, (Instance, Container, Layer)) or (isinstance(receiver, Param) and model_like(receiver)):
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
            if name in ("children", "named_children"):
                return self.children_of(receiver, name == "named_children") or Unknown()
            return Unknown()
        if isinstance(receiver, Container):
            if name == "append" and args:
                self._escape(args[0])
                receiver.items.append(args[0])
                self.arrays.appended(receiver, args[0], counted=not self._partial_loops and self._frames[-1].conditional == 0)
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
            if name == "get" and receiver.kind in ("dict", "module_dict"):
                return self.dict_get(receiver, args)
            if name in ("values", "children", "modules") and receiver.keys is not None:
                return Container("list", list(receiver.items), node, complete=receiver.complete)
            if name in ("children", "named_children"):
                return self.children_of(receiver, name == "named_children") or Unknown()
            if name in ("insert", "pop", "update", "__setitem__"):
                receiver.complete = False
                return Unknown()
            if name == "copy":
                return Container(receiver.kind, list(receiver.items), node, list(receiver.keys) if receiver.keys else None, receiver.complete)
            return Unknown()
        if isinstance(receiver, Constant):
            return string_method(receiver, name, args, kwargs) or Unknown()
        if isinstance(receiver, Obj) and receiver.qualified.endswith("GradScaler") and name == "scale" and args:
            return self._tensor("method", "scale", (args[0],), node)
        op = catalog.METHODS.get(name)
        if isinstance(receiver, (Tensor, Param, Unknown, Merge)) and op is not None:
            return self._tensor("method", name, (receiver,) + tuple(a for a in args if isinstance(a, Tensor)), node, op)
        if isinstance(receiver, (Tensor, Param)):
            return self._tensor("method", name, (receiver,) + tuple(a for a in args if isinstance(a, Tensor)), node)
        return Unknown()



def constants_given(params: tuple[str, ...], args: tuple[Value, ...], kwargs: dict[str, Value]) -> dict[str, Constant]:
    """The constructor arguments that reached a layer as constants, by parameter name (the
    values, however they were written: ``args.dropout``, ``self.p``, ``cfg["k"]``)."""
    given: dict[str, Constant] = {}
    for name, value in zip(params, args):
        if isinstance(value, Starred):
            break
        if isinstance(value, Constant):
            given[name] = value
    for name, value in kwargs.items():
        if isinstance(value, Constant) and name != "**":
            given[name] = value
    return given


def from_zoo(qualified: str) -> bool:
    """A model from a zoo (``torchvision.models.resnet50``, ``timm.create_model``)."""
    return qualified.startswith(_ZOO_PREFIXES)


def _looks_like_class(qualified: str) -> bool:
    """``models.CharLSTM``: a CamelCase name imported from a module that is not a known library
    of non-model classes (optimizers, datasets, containers)."""
    name = qualified.rsplit(".", 1)[-1]
    return "." in qualified and name[:1].isupper() and not qualified.startswith(_NOT_MODEL_MODULES)


class ExternalCall:
    """A call of a function that may be defined in another file of the run."""

    __slots__ = ("qualified", "node", "args", "kwargs", "modes")

    def __init__(self, qualified: str, node: cst.Call, args: tuple[Value, ...], kwargs: dict[str, Value],
                 modes: dict[int, str]) -> None:
        self.qualified = qualified
        self.node = node
        self.args = args
        self.kwargs = kwargs
        self.modes = modes  # id of a model argument -> its train/eval mode at the call


def _names_clipping(name: str) -> bool:
    words = name.lower()
    return "clip" in words and "grad" in words


def _is_false(value: Value) -> bool:
    return isinstance(value, Constant) and value.value is False


def _train_mode(args: tuple[Value, ...], kwargs: dict[str, Value]) -> str:
    flag = args[0] if args else kwargs.get("mode")
    if flag is None:
        return "train"
    if isinstance(flag, Constant) and isinstance(flag.value, bool):
        return "train" if flag.value else "eval"
    return "unknown"


def clears_gradients(call: cst.Call) -> bool:
    """``p.grad.zero_()``, ``p.grad.data.zero_()``, ``p.grad.fill_(0)``, ``self.optimizer_zero_grad()``:
    a call that clears gradients without being a plain ``zero_grad()``."""
    func = call.func
    if type(func) is not cst.Attribute:
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


