"""The semantics layer: what every rule asks instead of reading raw syntax.

:class:`FileSemantics` is built once per file from its one LibCST parse. The cheap facts
(scopes, imports, classes, functions, every call with its resolved name) come from a single
walk; the deeper ones (what each model class holds and how its ``forward`` wires it, what
each training or inference function does) are computed on first use by the
:class:`~dllint.semantics.evaluator.Evaluator` and shared by every rule that asks.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import PurePath
from typing import Iterable, Iterator, Mapping, Optional

import libcst as cst
from libcst._position import CodeRange

from dllint.project import LOGITS, NOT_A_MODEL, CallSummary, ClassSummary, FunctionSummary, ModelArgument, ModuleSummary
from dllint.semantics import catalog
from dllint.semantics.catalog import short_name
from dllint.semantics.config_values import record_fields
from dllint.semantics.constants import UNKNOWN, as_int_tuple, fold
from dllint.semantics.downloads import loads_downloaded_checkpoint
from dllint.semantics.evaluator import Evaluator
from dllint.semantics.library import from_zoo
from dllint.semantics.frameworks import class_traits
from dllint.semantics.scopes import (
    CallSite,
    ClassInfo,
    Collector,
    FunctionInfo,
    ModuleInfo,
    Scope,
)
from dllint.semantics.syntax import dotted_name
from dllint.semantics.trace import Event, Trace
from dllint.semantics.values import (
    Container,
    FunctionRef,
    Instance,
    Layer,
    Merge,
    Param,
    Tensor,
    Value,
    drops_out,
    options_of,
    producer,
)
from dllint.sources import Source

__all__ = [
    "UNKNOWN", "CallSite", "ClassInfo", "Container", "Event", "FileSemantics", "FunctionInfo", "Instance",
    "Layer", "Merge", "Param", "Scope", "Tensor", "Trace", "Value", "as_int_tuple", "describe", "families_of", "fold",
    "is_merge", "module_name_for", "options_of", "producer", "short_name",
]


class FileSemantics:
    def __init__(
        self,
        module: cst.Module,
        source: Source,
        module_name: Optional[str] = None,
        positions: Optional[Mapping[cst.CSTNode, CodeRange]] = None,
        externals: Optional[Mapping[str, tuple]] = None,
    ) -> None:
        self.module = module
        self.source = source
        # Configuration values other files of the run give the names this file imports
        # (``config_values``: facts by the qualified name this file resolves them to).
        self.externals: Mapping[str, tuple] = externals or {}
        # Files other than this one that its verdicts read or looked for (a DeepSpeed JSON
        # config): a cached result holds only while they stay as they were.
        self.read_paths: list[str] = []
        self.text = source.text or ""
        self.module_name = module_name or module_name_for(source.filename)
        is_package = PurePath(source.filename).stem == "__init__"
        self.info: ModuleInfo = Collector(ModuleInfo(self.module_name, module, is_package=is_package)).run()
        if positions is not None:  # known already (a language server reuses an edited file's)
            self.__dict__["_position_table"] = positions

    # cheap facts ----------------------------------------------------------------------------

    @cached_property
    def mentions_torch(self) -> bool:
        """Whether the file could hold anything the torch rules look at. A file written for
        another framework (MXNet, TensorFlow, JAX…) and importing nothing of PyTorch's is not; one
        that imports nothing at all but works on gradients (``param.grad.zero_()``, a helper its
        training scripts call) is."""
        imported = {name.split(".")[0] for name in self.info.imports}
        if imported & _TORCH_ECOSYSTEM:
            return True
        if imported & _OTHER_FRAMEWORKS:
            return False
        return "torch" in self.text or "nn." in self.text or ".grad." in self.text or any(
            cls.bases and self.is_module_class(cls) for cls in self.info.classes
        )

    @cached_property
    def publishes_weights(self) -> bool:
        """Whether the file defines models whose trained weights are published — a Hugging Face
        ``PreTrainedModel`` family, models registered with pretrained configurations (timm's
        ``@register_model``/``build_model_with_cfg``, torchvision's ``WeightsEnum``),
        weights downloaded by URL (``load_state_dict_from_url``), a pretrained zoo model's state
        dict loaded into a model of the file, or checkpoints the file downloads and then loads
        (:mod:`~dllint.semantics.downloads`: ``urlretrieve(url, os.path.join(CKPT_DIR, name))``
        and ``Model.load_from_checkpoint(os.path.join(CKPT_DIR, name))``). Their architecture
        is fixed by the checkpoints: a change to a layer (dropping a bias, an extra activation)
        breaks loading them, so the architecture rules do not judge these files."""
        for cls in self.info.classes:
            if any((base or "").rsplit(".", 1)[-1].endswith(_PUBLISHED_BASES) for base in cls.bases):
                return True
        for function in self.info.functions:
            if any((decorator or "").rsplit(".", 1)[-1] == "register_model" for decorator in function.decorators):
                return True
        return any(
            (site.qualified or site.method or "").rsplit(".", 1)[-1] in _WEIGHT_LOADERS or self._loads_pretrained_zoo_weights(site)
            for site in self.info.calls
        ) or loads_downloaded_checkpoint(self)

    def _loads_pretrained_zoo_weights(self, site: CallSite) -> bool:
        """``model.load_state_dict(pretrained.state_dict())`` with ``pretrained =
        models.vgg11_bn(pretrained=True)`` (or ``weights=...``, ``timm.create_model(...,
        pretrained=True)``): the file's model takes a published checkpoint's weights."""
        if site.method != "load_state_dict" or not site.node.args:
            return False
        given = site.node.args[0].value
        if not (isinstance(given, cst.Call) and isinstance(given.func, cst.Attribute) and given.func.attr.value == "state_dict"):
            return False
        built = _zoo_call(given.func.value, site.scope)
        if built is None:
            return False
        for arg in built.args:
            name = arg.keyword.value if arg.keyword is not None else None
            if name == "pretrained" and fold(arg.value, site.scope) is True:
                return True
            if name == "weights" and not (isinstance(arg.value, cst.Name) and arg.value.value == "None"):
                return True
        return False

    def calls_to(self, *qualified: str) -> Iterator[CallSite]:
        """Every call whose callee resolves to one of the names (canonical, e.g. ``torch.nn.Conv2d``)."""
        wanted = set(qualified)
        for site in self.info.calls:
            if site.qualified in wanted:
                yield site

    def method_calls(self, *names: str) -> Iterator[CallSite]:
        """Every ``<expr>.name(...)`` call whose callee is not a resolvable module path."""
        wanted = set(names)
        for site in self.info.calls:
            if site.method in wanted and site.qualified is None:
                yield site

    def site_of(self, node: cst.Call) -> Optional[CallSite]:
        return self._sites.get(id(node))

    @cached_property
    def _sites(self) -> dict[int, CallSite]:
        return {id(site.node): site for site in self.info.calls}

    def exclusive(self, a: cst.Call, b: cst.Call) -> bool:
        """Whether two calls sit in different arms of the same ``if``/``elif``/``else`` (so no
        single run executes both): the evaluator follows both arms into one object, so two
        layers appended to one list under ``if``/``else`` look like neighbours."""
        site_a, site_b = self.site_of(a), self.site_of(b)
        if site_a is None or site_b is None:
            return False
        arms = {id(test): in_body for test, in_body in site_a.guards}
        return any(id(test) in arms and arms[id(test)] != in_body for test, in_body in site_b.guards)

    def function_of(self, node: cst.CSTNode) -> Optional[FunctionInfo]:
        return self._functions.get(id(node))

    @cached_property
    def _functions(self) -> dict[int, FunctionInfo]:
        return {id(f.node): f for f in self.info.functions}

    def class_of(self, node: cst.CSTNode) -> Optional[ClassInfo]:
        return self._classes.get(id(node))

    @cached_property
    def _classes(self) -> dict[int, ClassInfo]:
        return {id(c.node): c for c in self.info.classes}

    def local_class(self, qualified: Optional[str]) -> Optional[ClassInfo]:
        if qualified is None:
            return None
        return self._classes_by_name.get(qualified)

    @cached_property
    def _classes_by_name(self) -> dict[str, ClassInfo]:
        return {c.qualified: c for c in self.info.classes}

    def local_bases(self, cls: ClassInfo) -> list[ClassInfo]:
        return [base for base in (self.local_class(q) for q in cls.bases) if base is not None]

    def find_method(self, cls: ClassInfo, name: str, *, skip_self: bool = False) -> Optional[FunctionInfo]:
        """``name`` looked up along the class's local bases (depth first, like a simple MRO)."""
        seen: set[int] = set()
        stack = [cls]
        first = True
        while stack:
            current = stack.pop(0)
            if id(current) in seen:
                continue
            seen.add(id(current))
            if not (first and skip_self) and name in current.methods:
                return current.methods[name]
            first = False
            stack.extend(self.local_bases(current))
        return None

    def is_module_class(self, cls: ClassInfo) -> bool:
        return self._module_classes.get(id(cls), False)

    @cached_property
    def _module_classes(self) -> dict[int, bool]:
        result: dict[int, bool] = {}

        def decide(cls: ClassInfo, depth: int = 0) -> bool:
            if id(cls) in result:
                return result[id(cls)]
            result[id(cls)] = False  # cycle guard
            verdict = False
            for base in cls.bases:
                if base in catalog.MODULE_BASES:
                    verdict = True
                local = self.local_class(base)
                if local is not None and depth < 20 and decide(local, depth + 1):
                    verdict = True
                if local is None and base not in catalog.MODULE_BASES and not (base or "").startswith("builtins."):
                    # A base class from elsewhere (another file of the project, a library) or
                    # one dllint cannot resolve: an nn.Module if the class behaves like one.
                    if "forward" in cls.methods or self._assigns_layers(cls):
                        verdict = True
            result[id(cls)] = verdict
            return verdict

        for cls in self.info.classes:
            decide(cls)
        return result

    def _assigns_layers(self, cls: ClassInfo) -> bool:
        for assignment in cls.attribute_assignments:
            if isinstance(assignment.value, cst.Call):
                qualified = assignment.method.scope.resolve(assignment.value.func)
                if qualified and qualified in catalog.LAYERS:
                    return True
        return False

    def attribute_put_in_eval_mode(self, cls: ClassInfo, attribute: str) -> bool:
        """Whether some method of the class (or of its local bases) puts ``self.<attribute>``
        in eval mode — ``self.model.eval()``, ``self.model.train(False)``, or assigns it
        ``something.eval()`` — an object-level invariant that single methods rely on."""
        classes = [cls, *self._all_local_bases(cls)]
        for site in self.method_calls("eval", "train"):
            function = site.function
            if function is None or function.cls not in classes or site.receiver is None:
                continue
            if site.method == "train" and not _passes_false(site.node):
                continue
            if dotted_name(site.receiver) == f"{function.self_name}.{attribute}":
                return True
        for owner in classes:
            for assignment in owner.attribute_assignments:
                value = assignment.value
                if assignment.name == attribute and isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "eval":
                    return True
        return False

    def _all_local_bases(self, cls: ClassInfo) -> list[ClassInfo]:
        found: list[ClassInfo] = []
        stack = self.local_bases(cls)
        while stack:
            base = stack.pop()
            if base not in found and base is not cls:
                found.append(base)
                stack.extend(self.local_bases(base))
        return found

    def module_classes(self) -> list[ClassInfo]:
        return [cls for cls in self.info.classes if self.is_module_class(cls)]

    # deep facts (evaluated on first use) ----------------------------------------------------

    @cached_property
    def evaluator(self) -> Evaluator:
        return Evaluator(self)

    @cached_property
    def traces(self) -> list[Trace]:
        """One trace per root and path: the module body, then every function that trains,
        evaluates or builds layers (and every function that calls one of those, so that it
        supplies the concrete models) — a trainer's method once per configuration of its class,
        a model's method with its configurations joined. A model class's ``__init__`` and ``forward`` are evaluated through its instances and
        :attr:`forward_graphs` instead."""
        evaluator = self.evaluator
        traces = evaluator.run_module()
        for function in self._root_functions():
            if function.cls is not None and function.self_name and not self.is_module_class(function.cls):
                # A trainer's methods, once per configuration (``self.scaler`` built or not).
                for instance in evaluator.configurations(function.cls)[:MAX_METHOD_CONFIGURATIONS]:
                    traces.extend(evaluator.run_function(function, instance))
            elif function.cls is not None and function.self_name:
                traces.extend(evaluator.run_function(function, self.generic_instance(function.cls)))
            else:
                traces.extend(evaluator.run_function(function))
        return traces

    def _root_functions(self) -> list[FunctionInfo]:
        relevant = {id(f) for f in self.info.functions if _does_loop_work(f) or (f.cls is None and _builds_layers(f))}
        by_name: dict[str, list[FunctionInfo]] = {}
        for function in self.info.functions:
            by_name.setdefault(function.name, []).append(function)
        changed = True
        while changed:
            changed = False
            for function in self.info.functions:
                if id(function) in relevant:
                    continue
                for site in function.calls:
                    name = site.method or (site.node.func.value if isinstance(site.node.func, cst.Name) else None)
                    if name and any(id(callee) in relevant for callee in by_name.get(name, ())):
                        relevant.add(id(function))
                        changed = True
                        break
        roots = []
        for function in self.info.functions:
            if id(function) not in relevant:
                continue
            if function.cls is not None and self.is_module_class(function.cls) and function.name in ("__init__", "forward"):
                continue
            if function.cls is not None and self._updates_parameters(function.cls):
                continue  # an optimizer's ``step`` (``@torch.no_grad()``) is not a loop: its callers are
            roots.append(function)
        return roots

    def _updates_parameters(self, cls: ClassInfo) -> bool:
        """Whether a class is an optimizer or a learning-rate scheduler (its own bases, or a
        class of this file it derives from, are torch's)."""
        seen: set[int] = set()
        pending = [cls]
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            if any(base in catalog.PARAMETER_UPDATER_BASES for base in current.bases):
                return True
            pending.extend(self.local_bases(current))
        return False

    def generic_instance(self, cls: ClassInfo) -> Value:
        """The instance a class's own methods see: ``__init__`` run with its defaults (one
        :class:`Instance`, or a :class:`Merge` of one per path of ``__init__``)."""
        return self.evaluator.instance_of(cls)

    def configurations(self, cls: ClassInfo) -> list[Instance]:
        """Every instance of a class this file builds: its defaults, then each set of
        constructor arguments seen, one per path of ``__init__``."""
        self.traces  # noqa: B018 - the roots build the configurations they use
        return self.evaluator.configurations(cls)

    @cached_property
    def forward_graphs(self) -> list["ForwardGraph"]:
        """The dataflow of each model class's ``forward``, submodules expanded: one graph per
        configuration of the class (and per path of ``forward``) — except a configuration that
        only other classes' ``__init__`` build, when their forward passes already went all
        through it (its layers are in their graphs, in context)."""
        evaluator = self.evaluator
        classes = self.module_classes()
        for cls in classes:
            # Every class built first: the configurations a class's ``__init__`` builds of the
            # classes before it in the file are among theirs.
            self.configurations(cls)
        runs = [
            (cls, forward, instance)
            for cls in classes
            if (forward := cls.methods.get("forward")) is not None
            for instance in self.configurations(cls)
        ]
        nested = {id(instance) for _, _, instance in runs if self._built_only_inside_other_classes(instance)}
        by_instance: dict[int, list[ForwardGraph]] = {}

        def run(cls: ClassInfo, forward: FunctionInfo, instance: Instance) -> None:
            graphs = by_instance.setdefault(id(instance), [])
            evaluator.recording_applications = True
            try:
                traces = evaluator.run_function(forward, instance)
            finally:
                evaluator.recording_applications = False
            for trace in traces:
                start, end = trace.span
                graphs.append(ForwardGraph(cls, evaluator.tensors[start:end], trace.returns, instance=instance))

        for cls, forward, instance in runs:
            if id(instance) not in nested:
                run(cls, forward, instance)
        for cls, forward, instance in reversed(runs):  # the outer classes, defined later, first
            if id(instance) in nested and id(instance) not in evaluator.applied_in_full:
                run(cls, forward, instance)
        return [graph for _, _, instance in runs for graph in by_instance.get(id(instance), ())]

    def _built_only_inside_other_classes(self, instance: Instance) -> bool:
        key = self.evaluator.configuration_key.get(id(instance))
        contexts = self.evaluator.built_from.get(key, ()) if key is not None else ()
        return bool(contexts) and all(isinstance(context, Instance) and context.cls is not instance.cls for context in contexts)

    @cached_property
    def sequential_chains(self) -> list["ForwardGraph"]:
        """Every ``nn.Sequential`` built anywhere in the file (once per distinct content) that
        no forward pass went all through already, applied to an input on its own."""
        self.traces  # noqa: B018 - evaluating every root constructs every container
        self.forward_graphs  # noqa: B018
        chains = []
        seen: set[tuple[int, ...]] = set()
        evaluator = self.evaluator
        distinct = []
        applied = set(evaluator.applied_in_full)
        for container in list(evaluator.containers):
            key = (id(container.node), *(id(item) for item in container.items))
            if container.kind != "sequential" or key in seen or id(container) in applied:
                continue
            seen.add(key)
            distinct.append(container)
        for container in _within_chain_budget(distinct):
            output, tensors = evaluator.apply_alone(container, container.node)
            if output is not None:  # None: too big to follow, its graph would be partial
                chains.append(ForwardGraph(None, tensors, [output], container))
        return chains

    def all_graphs(self) -> Iterator["ForwardGraph"]:
        yield from self.forward_graphs
        yield from self.sequential_chains

    @cached_property
    def layers_applied(self) -> dict[int, list[Layer]]:
        """For each layer constructor call (by id of its node), every layer it built that a
        forward graph applies — one per configuration, helper call or path."""
        result: dict[int, list[Layer]] = {}
        seen: set[int] = set()
        for graph in self.all_graphs():
            for _, layer in graph.module_applications():
                if id(layer) not in seen:
                    seen.add(id(layer))
                    result.setdefault(id(layer.node), []).append(layer)
        return result

    def observed(self, node: cst.Call) -> list[tuple[Value, tuple[Value, ...], dict[str, Value]]]:
        """What reached a call in the evaluations that ran it: (callee or receiver, args, kwargs)."""
        self.traces  # noqa: B018
        self.forward_graphs  # noqa: B018
        return self.evaluator.observed.get(id(node), [])

    def feeds_trainable(self, value: Value) -> Optional[bool]:
        """Whether the output of a layer (or of a matmul with a parameter) flows, through
        activations, norms, dropout and reshapes, into another layer with weights — i.e. it
        is a hidden layer. False when every use ends at a return or a merge (a residual add,
        a gate): an output or projection layer. None when no forward pass applies it."""
        verdicts = set()
        for graph in self.all_graphs():
            for tensor in graph.tensors:
                if not _applies(tensor, value):
                    continue
                verdicts.add(graph.hidden(tensor))
        if True in verdicts:
            return True
        return False if verdicts else None

    @cached_property
    def frozen_parameters(self) -> set[tuple[int, str]]:
        """(id of layer, parameter name) for parameters set to ``requires_grad = False`` and
        never set trainable again."""
        self.traces  # noqa: B018
        self.forward_graphs  # noqa: B018
        thawed = self.evaluator.thawed
        return {frozen for frozen in self.evaluator.frozen if frozen[0] not in thawed}

    @cached_property
    def layers(self) -> list[Layer]:
        """Every torch layer constructed in any evaluation (one per construction and argument set)."""
        self.traces  # noqa: B018
        self.forward_graphs  # noqa: B018
        return list(self.evaluator.layers)

    def class_output(self, cls: ClassInfo) -> Optional[str]:
        """The activation family a model class's forward ends in on every path (``softmax``,
        ``sigmoid``, ``log_softmax``), or None."""
        return self._class_outputs.get(id(cls))

    @cached_property
    def _class_outputs(self) -> dict[int, Optional[str]]:
        outputs: dict[int, Optional[str]] = {}
        for graph in self.forward_graphs:
            outputs[id(graph.cls)] = output_family(graph.returns)
        return outputs

    def class_output_fields(self, cls: ClassInfo) -> Optional[dict[str, str]]:
        """For a model class whose forward returns a container on every path (a tuple, a dict,
        an output record or dataclass): what each element is — ``{"logits": "logits",
        "probs": "sigmoid", "[0]": "logits", ...}`` (output families of ``losses.origin``), an
        element whose paths disagree or that is unknown left out. None when the forward returns
        anything else (a tensor) on some path."""
        known = self._class_fields
        if id(cls) not in known:
            known[id(cls)] = None  # a forward that returns another instance of its own class
            known[id(cls)] = self._output_fields(cls)
        return known[id(cls)]

    @cached_property
    def _class_fields(self) -> dict[int, Optional[dict[str, str]]]:
        return {}

    def _output_fields(self, cls: ClassInfo) -> Optional[dict[str, str]]:
        from dllint.semantics.losses import origin, output_elements

        families: dict[str, set[Optional[str]]] = {}
        returned = False
        for graph in self.forward_graphs:
            if graph.cls is not cls:
                continue
            for value in graph.returns:
                for option in options_of(value):
                    elements = output_elements(self, option)
                    if elements is None:
                        return None
                    returned = True
                    for key, element in elements.items():
                        found = origin(self, element)
                        families.setdefault(key, set()).add(found.family if found.known else None)
        if not returned:
            return None
        return {key: seen.pop() for key, seen in families.items() if len(seen) == 1 and None not in seen}

    def class_returns_logits(self, cls: ClassInfo) -> bool:
        """Whether a model class's forward returns, on every path, the raw output of a layer
        with weights (``nn.Linear``, a conv, ``F.linear``, a matrix product): logits, with no
        output activation after them."""
        from dllint.semantics.losses import origin

        known = self._class_logits
        if id(cls) not in known:
            known[id(cls)] = False  # a forward that returns another instance of its own class
            graph = self._forward_graph_of.get(id(cls))
            returned = [option for value in graph.returns for option in options_of(value)] if graph else []
            found = origin(self, Merge(tuple(returned)) if len(returned) > 1 else returned[0]) if returned else None
            known[id(cls)] = bool(found and found.known and found.family == LOGITS)
        return known[id(cls)]

    @cached_property
    def _class_logits(self) -> dict[int, bool]:
        return {}

    @cached_property
    def _forward_graph_of(self) -> dict[int, "ForwardGraph"]:
        return {id(graph.cls): graph for graph in self.forward_graphs}

    def class_contains(self, cls: ClassInfo) -> set[str]:
        """Op families among a model class's submodules (``lstm``, ``dropout``, ``batch`` …),
        plus ``external:<qualified>`` for submodule classes defined in other files."""
        return self._contains.get(id(cls), set())

    @cached_property
    def _contains(self) -> dict[int, set[str]]:
        """Over every configuration of the class: what it may hold."""
        result: dict[int, set[str]] = {}
        for cls in self.module_classes():
            found = families_of(self.generic_instance(cls))
            for instance in self.configurations(cls):
                found |= families_of(instance)
            result[id(cls)] = found | self.functional_layers(cls)
        return result

    def instance_contains(self, instance: Instance) -> set[str]:
        """Op families held by one configuration of a class of this file."""
        if instance.cls is None or instance.attrs is None:
            return self.class_contains(instance.cls) if instance.cls is not None else set()
        return families_of(instance) | self.functional_layers(instance.cls)

    def functional_layers(self, cls: ClassInfo) -> set[str]:
        """Families of functional dropout/batch-norm used directly in the class's forward."""
        found: set[str] = set()
        forward = self.find_method(cls, "forward")
        if forward is None:
            return found
        for site in forward.calls:
            op = catalog.function_op(site.qualified)
            if op is not None and op.kind in ("dropout", "norm"):
                found.add(op.family if op.kind == "norm" else "dropout")
        return found

    @cached_property
    def training_steps(self) -> list["TrainingStep"]:
        """Every ``backward`` with the optimizer ``step`` that follows it, in every trace."""
        from dllint.semantics.loops import training_steps

        return training_steps(self)

    @cached_property
    def autograd(self) -> "Autograd":
        """What a ``backward()`` reaches: each value's autograd graph, cut at ``.detach()``,
        ``no_grad`` and the like (``semantics/autograd.py``)."""
        from dllint.semantics.autograd import Autograd

        return Autograd(self)

    @cached_property
    def carried_states(self) -> list["CarriedState"]:
        """Forward calls fed state that a previous loop iteration returned, still attached to a
        graph a ``backward()`` already ran through (``semantics/recurrence.py``)."""
        from dllint.semantics.recurrence import carried_states

        return carried_states(self)

    @cached_property
    def discriminator_steps(self) -> list["DiscriminatorStep"]:
        """GAN discriminator steps whose backward reaches the generator, and whether the
        generator's optimizer then applies those gradients (``semantics/adversarial.py``)."""
        from dllint.semantics.adversarial import discriminator_steps

        return discriminator_steps(self)

    @cached_property
    def init_writes(self) -> list["InitWrite"]:
        """Every call that overwrites a tensor's values — initialisers (``nn.init.*`` and the
        transformers/timm equivalents) and in-place fills (``w.data.normal_()``) — with the
        expression written and its folded arguments (``semantics/inits.py``); ask
        ``inits.written(sem, write)`` which layers or parameters it denotes."""
        from dllint.semantics.inits import collect

        return collect(self)

    @cached_property
    def weight_uses(self) -> dict[int, list["WeightUse"]]:
        """For each ``nn.Parameter`` call (by id of its node) whose tensor is used as the weight
        of a matrix product in a forward graph (``x @ W``, ``F.linear(x, W)``…), every such use."""
        from dllint.semantics.inits import weight_uses

        return weight_uses(self)

    @cached_property
    def init_timeline(self) -> "Timeline":
        """The writes to each parameter in the order they run — init writes, ``layer.weight =
        nn.Parameter(...)``, ``reset_parameters()`` — and which one is the last
        (``semantics/writes.py``); ``init_timeline.written(write)`` caches ``inits.written``."""
        from dllint.semantics.writes import Timeline

        return Timeline(self)

    @cached_property
    def raw_weights(self) -> "RawWeights":
        """Trainable tensors applied with a matrix product instead of through a layer (``x @ W``,
        ``F.linear(x, W)``): from-scratch weights, in forward passes and in module-level code
        (``semantics/weights.py``)."""
        from dllint.semantics.weights import RawWeights

        return RawWeights(self)

    @cached_property
    def loss_applications(self) -> list["LossApplication"]:
        """Every call of a torch loss (criterion object or functional) with the prediction and
        target that reached it, once per evaluation (``semantics/losses.py``); ask
        ``losses.origin(sem, app.prediction)`` what the prediction is."""
        from dllint.semantics.losses import loss_applications

        return loss_applications(self)

    @property
    def wanted_values(self) -> tuple[str, ...]:
        """The imported names the evaluation looked up that another file of the run may give a
        configuration value (``from config import DROPOUT``, ``opts.get_args``)."""
        return tuple(sorted(self.evaluator._config.wanted)) if "evaluator" in self.__dict__ else ()

    @cached_property
    def summary(self) -> ModuleSummary:
        """What the project index needs to know of this file's classes and configuration values."""
        from dllint.semantics import namespace
        from dllint.semantics.config_values import exported_values

        summary = ModuleSummary(
            self.module_name, self.source.filename, names=namespace.module_names(self.info),
            star_imports=namespace.star_imports(self.info), exports=namespace.exports(self.info),
            choices=namespace.choices(self.info),
        )
        summary.values = exported_values(self)
        if not self.mentions_torch:
            return summary
        from dllint.semantics.writes import applications, hidden_layer_paths, hidden_layer_types

        summary.applied = applications(self)
        for cls in self.info.classes:
            is_module = self.is_module_class(cls)
            summary.classes[cls.qualified] = ClassSummary(
                qualified=cls.qualified,
                bases=tuple(base for base in cls.bases if base),
                is_module=is_module,
                contains=frozenset(self.class_contains(cls)) if is_module else frozenset(),
                output=self.class_output(cls) if is_module else None,
                logits=self.class_returns_logits(cls) if is_module else False,
                methods=frozenset(cls.methods),
                hidden=hidden_layer_types(self, cls) if is_module else frozenset(),
                hidden_paths=hidden_layer_paths(self, cls) if is_module else frozenset(),
                fields=self.class_output_fields(cls) if is_module else None,
                traits=class_traits(self, cls),
            )
        self._summarise_calls(summary)
        summary.saved = tuple(dict.fromkeys(self.evaluator.saved))  # (known once the traces ran)
        return summary

    def _summarise_calls(self, summary: ModuleSummary) -> None:
        """The calling contexts other files need: this file's module-level functions (their
        parameters, and what they do to what they are given), and its calls of functions of
        other files (the models it passes them, and in which mode)."""
        effects: dict[int, set[str]] = {}
        for trace in self.traces:
            if trace.root is not None and trace.root.cls is None:
                effects.setdefault(id(trace.root), set()).update(
                    event.kind for event in trace.events if event.kind in _CALLEE_EFFECTS
                )
        for function in self.info.functions:
            if function.cls is None and function.scope.parent is self.info.scope:
                qualified = f"{self.module_name}.{function.qualname}"
                summary.functions[qualified] = FunctionSummary(
                    qualified, tuple(param.name.value for param in function.params), frozenset(effects.get(id(function), ()))
                )
        seen: set[tuple] = set()
        for call in self.evaluator.external_calls:
            args = tuple(self._model_argument(value, call.modes) for value in call.args)
            kwargs = {name: argument for name, value in call.kwargs.items() if (argument := self._model_argument(value, call.modes))}
            if not any(args) and not kwargs:
                continue
            key = (call.qualified, tuple((a.mode, tuple(sorted(a.families))) if a else None for a in args),
                   tuple(sorted((n, a.mode) for n, a in kwargs.items())))
            if key not in seen and len(seen) < MAX_SUMMARISED_CALLS:
                seen.add(key)
                summary.calls.append(CallSummary(call.qualified, args, kwargs))

    def _model_argument(self, value: Value, modes: dict[int, str]) -> Optional[ModelArgument]:
        """What a call passes for an argument, when it is a model — or surely is none: a plain
        function (not a method bound to a model) of this file."""
        mode = modes.get(id(value))
        if mode is None:
            options = options_of(value)
            if options and all(
                isinstance(option, FunctionRef) and option.bound_self is None and option.function.cls is None for option in options
            ):
                return NOT_A_MODEL
            return None
        families = families_of(value)
        if not any(isinstance(option, (Instance, Container, Layer)) for option in options_of(value)):
            families.add("unknown")  # a model this file itself receives from elsewhere
        for option in options_of(value):
            if isinstance(option, Instance) and option.cls is None and isinstance(option.node, cst.Call):
                # A class of another file built here: the modules given to its constructor
                # (``RNNModel(nn.LSTM(..., dropout=0.5))``) are what it wraps.
                for _, args, kwargs in self.observed(option.node):
                    for passed in (*args, *kwargs.values()):
                        if any(isinstance(held, (Instance, Container, Layer)) for held in options_of(passed)):
                            families |= families_of(passed)
        return ModelArgument(frozenset(families), mode)

    # positions ------------------------------------------------------------------------------

    def positions(self, nodes: Iterable[cst.CSTNode] = ()) -> Mapping[cst.CSTNode, CodeRange]:
        """Source ranges of nodes, as LibCST's PositionProvider gives them: computed once per
        file, on first use (only files with findings, or rules that read comments, pay)."""
        table = self.__dict__.get("_position_table")
        if table is None:
            from dllint.semantics.positions import Positions

            table = self.__dict__["_position_table"] = Positions(self.module)
        return table

    @cached_property
    def demonstrations(self) -> "Demonstrations":
        """Which networks of a notebook are trained, and which it only demonstrates (builds,
        prints, runs forward, initialises) — ``semantics/demonstrations.py``."""
        from dllint.semantics.demonstrations import Demonstrations

        return Demonstrations(self)

    @cached_property
    def contrasts(self) -> "Contrasts":
        """Which collapses of a notebook are deliberate: a purely linear network it contrasts
        with its repair, or an activation commented out — ``semantics/contrasts.py``."""
        from dllint.semantics.contrasts import Contrasts

        return Contrasts(self)

    @cached_property
    def structure(self) -> "Structure":
        """Where nodes sit: parents, statements, blocks, indentation, uses of a local name
        (``semantics/structure.py``; what fixes need to edit the right place)."""
        from dllint.semantics.structure import Structure

        return Structure(self)

    # names and comments -----------------------------------------------------------------------

    def holder_names(self, layer: Layer) -> set[str]:
        """The attribute names and container keys under which the model classes of this file
        (and every container built in it) hold a layer — any layer built by the same call —
        together with the names of the submodules and containers around it:
        ``{"adapter", "lora_A"}`` for ``self.adapter = nn.ModuleDict({"lora_A": nn.Linear(...)})``."""
        return self._holder_names.get(id(layer.node), set())

    @cached_property
    def _holder_names(self) -> dict[int, set[str]]:
        result: dict[int, set[str]] = {}
        seen: set[tuple[int, tuple[str, ...]]] = set()

        def visit(value: Value, path: tuple[str, ...], depth: int) -> None:
            if depth > 8 or (id(value), path) in seen:
                return
            seen.add((id(value), path))
            if isinstance(value, Layer):
                result.setdefault(id(value.node), set()).update(path)
            elif isinstance(value, Container):
                keys = value.keys if value.keys is not None and len(value.keys) == len(value.items) else None
                for index, item in enumerate(value.items):
                    visit(item, path + ((str(keys[index]),) if keys is not None else ()), depth + 1)
            elif isinstance(value, Merge):
                for option in value.options:
                    visit(option, path, depth + 1)
            elif isinstance(value, Instance) and value.attrs:
                for name, item in value.attrs.items():
                    visit(item, path + (name,), depth + 1)

        for cls in self.module_classes():
            visit(self.generic_instance(cls), (), 0)
        self.traces  # noqa: B018 - evaluating every root constructs every container
        for container in list(self.evaluator.containers):
            visit(container, (), 0)
        return result

    def comments_near(self, node: cst.CSTNode) -> list[str]:
        """The comments on the lines a node spans and on the comment-only lines right above
        it: what its author wrote about it (``# low-rank bottleneck``)."""
        span = self._all_positions.get(node)
        if span is None:
            return []
        comments = self._comments_by_line
        found = []
        row = span.start.line - 1
        while row in comments and comments[row][1]:
            found.append(comments[row][0])
            row -= 1
        for row in range(span.start.line, span.end.line + 1):
            if row in comments:
                found.append(comments[row][0])
        return found

    def comment_alone_on(self, row: int) -> Optional[str]:
        """The comment on a line that holds nothing else (``# nn.ReLU(),``), if there is one."""
        comment = self._comments_by_line.get(row)
        return comment[0] if comment is not None and comment[1] else None

    @cached_property
    def _all_positions(self) -> Mapping[cst.CSTNode, CodeRange]:
        return self.positions(())

    @cached_property
    def _comments_by_line(self) -> dict[int, tuple[str, bool]]:
        """Line number → (comment text, whether the line holds nothing but the comment)."""
        import io
        import tokenize

        result: dict[int, tuple[str, bool]] = {}
        try:
            for token in tokenize.generate_tokens(io.StringIO(self.module.code).readline):
                if token.type == tokenize.COMMENT:
                    row = token.start[0]
                    result[row] = (token.string, not token.line[: token.start[1]].strip())
        except (tokenize.TokenError, IndentationError, SyntaxError):
            pass
        return result


class ForwardGraph:
    """The tensors one forward pass (or one Sequential on its own) computes; for a model
    class, in one configuration (``instance``)."""

    def __init__(self, cls: Optional[ClassInfo], tensors: list[Tensor], returns: list[Value],
                 container: Optional[Container] = None, instance: Optional[Instance] = None) -> None:
        self.cls = cls
        self.tensors = tensors
        self.returns = returns
        self.container = container
        self.instance = instance

    def returned_values(self) -> Iterator[Value]:
        """What the forward returns, looking into the tuples, lists and dicts it returns, and
        into output records (``ModelOutput(logits=...)``, a dataclass or ``NamedTuple``)."""
        stack = list(self.returns)
        seen: set[int] = set()
        while stack:
            value = stack.pop()
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, Merge):
                stack.extend(value.options)
            elif isinstance(value, Container) and value.kind in ("list", "dict"):
                stack.extend(value.items)
            elif record_fields(value) is not None:
                stack.extend(record_fields(value))  # type: ignore[arg-type]
            else:
                yield value

    def module_applications(self) -> Iterator[tuple[Tensor, Layer]]:
        for tensor in self.tensors:
            if tensor.kind == "module" and isinstance(tensor.target, Layer):
                yield tensor, tensor.target

    @cached_property
    def consumers(self) -> dict[int, list[Tensor]]:
        """For each tensor (by id), the tensors computed from it."""
        result: dict[int, list[Tensor]] = {}
        for tensor in self.tensors:
            for source in tensor.inputs:
                for option in options_of(source):
                    result.setdefault(id(option), []).append(tensor)
        return result

    def hidden(self, tensor: Tensor) -> bool:
        """Whether the tensor flows on (through activations, norms, dropout, reshapes, bias
        adds) into a layer with weights — as opposed to ending at an output, a residual add
        or a gate."""
        return id(tensor) in self._hidden

    @cached_property
    def _hidden(self) -> set[int]:
        """Ids of the values that are hidden, found in one walk back from the trainable
        applications (a walk forward from each tensor would make a chain quadratic)."""
        in_graph = {id(tensor) for tensor in self.tensors}
        hidden: set[int] = set()
        targets = [tensor for tensor in self.tensors if _is_trainable_application(tensor)]
        reached = {id(tensor) for tensor in targets}
        while targets:
            tensor = targets.pop()
            for source in tensor.inputs:
                for option in options_of(source):
                    key = id(option)
                    if key in hidden:
                        continue
                    hidden.add(key)
                    if key in in_graph and key not in reached and _passes_on(option):
                        reached.add(key)
                        targets.append(option)
        return hidden


MAX_METHOD_CONFIGURATIONS = 4
_PUBLISHED_BASES = ("PreTrainedModel", "WeightsEnum")
_WEIGHT_LOADERS = frozenset({"build_model_with_cfg", "load_state_dict_from_url", "load_url"})
MAX_SUMMARISED_CALLS = 200
_CALLEE_EFFECTS = frozenset({"clip", "zero_grad", "eval", "train"})


_OTHER_FRAMEWORKS = frozenset({"mxnet", "tensorflow", "jax", "flax", "keras", "paddle", "mindspore", "oneflow", "chainer", "theano"})
_TORCH_ECOSYSTEM = frozenset({
    "torch", "torchvision", "torchaudio", "torchtext", "timm", "transformers", "lightning", "pytorch_lightning",
    "accelerate", "diffusers", "peft", "ultralytics",
})

_LOOP_METHODS = frozenset(
    {"backward", "manual_backward", "step", "zero_grad", "eval", "train", "clip_grad_norm_", "clip_grad_value_",
     "clip_gradients", "unscale_"}
)


def _does_loop_work(function: FunctionInfo) -> bool:
    """Whether a function trains, evaluates or runs inference (judged from its own calls) — or
    clears or clips gradients (a from-scratch ``sgd(params, lr)`` doing ``param.grad.zero_()``,
    a ``clip_gradient(model, c)`` doing ``p.grad.data.clamp_(-c, c)``: what it does is part of
    its callers' training loops, in this file or another)."""
    from dllint.semantics.loops import INFERENCE_NAME

    from dllint.semantics.frameworks import drives_training
    from dllint.semantics.grad_clipping import clips_gradients
    from dllint.semantics.library import clears_gradients

    if function.no_grad or INFERENCE_NAME.search(function.name):
        return True
    return any(
        site.method in _LOOP_METHODS or site.no_grad or clears_gradients(site.node) or clips_gradients(site)
        for site in function.calls
    ) or drives_training(function)


def _builds_layers(function: FunctionInfo) -> bool:
    return any(site.qualified in catalog.LAYERS for site in function.calls)


_PASS_THROUGH_KINDS = ("activation", "dropout", "identity", "reshape", "norm", "pad", "pool")


def _applies(tensor: Tensor, value: Value) -> bool:
    if tensor.kind == "module":
        return tensor.target is value
    if tensor.kind in ("binop", "function"):
        is_matmul = tensor.target == "MatrixMultiply" or (
            tensor.kind == "function" and tensor.target in ("torch.matmul", "torch.mm", "torch.bmm", "torch.nn.functional.linear")
        )
        return is_matmul and any(source is value for source in tensor.inputs)
    return False


def _is_trainable_application(tensor: Tensor) -> bool:
    op = tensor.module_op
    if op is not None and op.trainable:
        return True
    if tensor.kind == "binop" and tensor.target == "MatrixMultiply":
        return True
    return tensor.kind == "function" and tensor.target in ("torch.matmul", "torch.mm", "torch.bmm")


# Applying every nn.Sequential on its own expands the Sequentials nested in it, so a chain
# `x1 = nn.Sequential(x0, ...)`, `x2 = nn.Sequential(x1, ...)`... costs the square of its length.
# The expansions may create this many tensors per item of the file's Sequentials (normal code,
# nested two or three deep, stays below it: no file of torchvision, timm or d2l reaches it).
CHAIN_TENSORS_PER_ITEM = 4
CHAIN_TENSORS_MINIMUM = 2000


def _within_chain_budget(containers: list[Container]) -> list[Container]:
    """The Sequentials to apply on their own, in their order: all of them unless their
    expansions would pass the budget; then the outermost ones (those no other Sequential
    holds) first, and the nested ones as far as the budget goes — a nested Sequential is
    applied, expanded, inside each one that holds it anyway."""
    sizes: dict[int, int] = {}

    def expanded(container: Container, active: set[int]) -> int:
        known = sizes.get(id(container))
        if known is not None:
            return known
        active.add(id(container))
        total = 0
        for item in container.items:
            nested = isinstance(item, Container) and item.kind == "sequential" and id(item) not in active
            total += expanded(item, active) if nested else 1  # type: ignore[arg-type]
        active.discard(id(container))
        sizes[id(container)] = total
        return total

    costs = [expanded(container, set()) for container in containers]  # inner ones first: shallow
    items = sum(len(container.items) for container in containers)
    budget = max(CHAIN_TENSORS_MINIMUM, CHAIN_TENSORS_PER_ITEM * items)
    if sum(costs) <= budget:
        return containers
    held = {id(item) for container in containers for item in container.items}
    outermost = [i for i, container in enumerate(containers) if id(container) not in held]
    nested = [i for i, container in enumerate(containers) if id(container) in held]
    chosen: set[int] = set()
    spent = 0
    for i in outermost + nested:
        if i in outermost or spent + costs[i] <= budget:
            chosen.add(i)
            spent += costs[i]
    return [container for i, container in enumerate(containers) if i in chosen]


def _passes_on(tensor: Tensor) -> bool:
    """Whether a tensor's value flows through it unchanged in kind (an activation, a norm, a
    reshape, a bias add...), so that what it feeds, its input feeds too."""
    op = tensor.module_op
    return (op is not None and op.kind in _PASS_THROUGH_KINDS and op.family != "gate") or tensor.kind in (
        "unary", "subscript", "merge", "call"
    ) or (tensor.kind == "method" and op is None) or _is_affine_offset(tensor)


def _passes_false(call: cst.Call) -> bool:
    return bool(call.args) and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "False"


def describe(tensor: Tensor) -> str:
    """How the operation that produced a tensor is spelled: ``nn.Sigmoid``, ``torch.tanh``, ``.sigmoid()``."""
    if isinstance(tensor.target, Layer):
        return f"`{short_name(tensor.target.qualified)}`"
    if tensor.kind == "function" and isinstance(tensor.target, str):
        return f"`{short_name(tensor.target)}`"
    if tensor.kind == "method":
        return f"`.{tensor.target}()`"
    return "an operation"


def is_merge(tensor: Tensor) -> bool:
    """Arithmetic joining two computed tensors: a residual add, a gate, an attention product."""
    return tensor.kind == "binop" and not _is_affine_offset(tensor)


def _is_affine_offset(tensor: Tensor) -> bool:
    """``h + self.b`` or ``h * 0.5``: arithmetic with a non-tensor operand (a bias, a scale)
    continues the same path; with two tensors it is a merge (a residual add, a gate)."""
    if tensor.kind != "binop":
        return False
    flowing = [s for s in tensor.inputs if isinstance(s, Param) or (isinstance(s, Tensor) and s.kind not in ("fresh", "parameter"))]
    return len(flowing) <= 1


def output_family(returns: list[Value]) -> Optional[str]:
    families = set()
    for value in returns:
        for option in options_of(value):
            end = producer(option, through=("identity", "reshape", "dropout")) if isinstance(option, Tensor) else None
            op = end.module_op if end is not None else None
            if op is not None and op.kind == "activation" and op.family in ("softmax", "sigmoid", "log_softmax"):
                families.add(op.family)
            else:
                families.add(None)
    if len(families) == 1:
        return families.pop()
    return None


def families_of(value: Value, seen: Optional[set[int]] = None, depth: int = 0) -> set[str]:
    """Op families held by a module object (``lstm``, ``recurrent``, ``dropout``, ``batch`` …),
    ``external:<qualified>`` for submodules of classes defined elsewhere, and ``unknown`` for
    containers with contents dllint could not see."""
    seen = set() if seen is None else seen
    found: set[str] = set()
    if id(value) in seen or depth > 12:
        return found
    seen.add(id(value))
    if isinstance(value, Layer):
        op = value.op
        if drops_out(value):
            found.add("dropout")
        if op.kind == "recurrent":
            found.update({"recurrent", op.family})
        elif op.kind == "norm":
            found.add(op.family)
        elif op.kind == "attention" and op.family == "transformer":
            found.update({"dropout"})
    elif isinstance(value, Container):
        for item in value.items:
            found |= families_of(item, seen, depth + 1)
        if not value.complete:
            found.add("unknown")
    elif isinstance(value, Instance):
        if value.attrs:
            for item in value.attrs.values():
                found |= families_of(item, seen, depth + 1)
        if value.cls is None and value.qualified:
            found.add(f"external:{value.qualified}")
    elif isinstance(value, Merge):
        for option in value.options:
            found |= families_of(option, seen, depth + 1)
    return found


def _zoo_call(expr: cst.BaseExpression, scope: Scope, depth: int = 0) -> Optional[cst.Call]:
    """The model-zoo call a value comes from (``models.vgg11_bn(pretrained=True)``), through
    names bound once, attributes, slices and method calls (``.features[:8]``, ``.to(device)``)."""
    while depth < 8:
        depth += 1
        if isinstance(expr, cst.Call):
            if from_zoo(scope.resolve(expr.func) or ""):
                return expr
            if not isinstance(expr.func, cst.Attribute):
                return None
            expr = expr.func.value
        elif isinstance(expr, (cst.Attribute, cst.Subscript)):
            expr = expr.value
        elif isinstance(expr, cst.Name):
            bindings = scope.lookup(expr.value)
            if not bindings or len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].value is None:
                return None
            expr = bindings[0].value
        else:
            return None
    return None


def module_name_for(filename: str) -> str:
    """Dotted module name of a file: walk up while the directory is a package."""
    import os

    path = PurePath(filename)
    parts = [path.stem] if path.stem != "__init__" else []
    directory = os.path.dirname(os.path.abspath(filename)) if filename not in ("-", "<stdin>") else ""
    while directory and os.path.isfile(os.path.join(directory, "__init__.py")):
        parts.insert(0, os.path.basename(directory))
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return ".".join(parts) or path.stem


from dllint.semantics.adversarial import DiscriminatorStep  # noqa: E402
from dllint.semantics.autograd import Autograd  # noqa: E402
from dllint.semantics.inits import InitWrite  # noqa: E402
from dllint.semantics.weights import RawWeights, WeightUse  # noqa: E402
from dllint.semantics.writes import Timeline  # noqa: E402
from dllint.semantics.loops import TrainingStep  # noqa: E402  (these modules import this one's names)
from dllint.semantics.losses import LossApplication  # noqa: E402
from dllint.semantics.recurrence import CarriedState  # noqa: E402
from dllint.semantics.structure import Structure  # noqa: E402
from dllint.semantics.contrasts import Contrasts  # noqa: E402
from dllint.semantics.demonstrations import Demonstrations  # noqa: E402
