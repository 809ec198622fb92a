from __future__ import annotations

import re
from typing import Iterator, Optional

import libcst as cst

from dllint.rules.base import Report, Rule
from dllint.semantics import FileSemantics, catalog, fold
from dllint.semantics.inits import (
    filled_by_assignment,
    loop_receiver_unknown,
    loop_source_names,
    parameter_writes,
)
from dllint.semantics.scopes import CallSite, ClassInfo
from dllint.semantics.syntax import iter_tree, keyword

_EMPTY = frozenset({"torch.empty", "torch.empty_like", "torch.empty_strided"})
_LEGACY = frozenset(
    {
        "torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor", "torch.BFloat16Tensor",
        "torch.cuda.FloatTensor", "torch.cuda.HalfTensor", "torch.cuda.DoubleTensor",
    }
)
_SIZE_NAME = re.compile(r"(dim|size|num|^n_|^n[A-Z]|features|channels|hidden|width|height|depth|heads|len|_in$|_out$|^in_|^out_)", re.I)
# Methods that, when a class calls them on itself and they are defined outside this file (an
# inherited ``reset_parameters``), may initialise its parameters.
_INIT_METHODS = re.compile(r"(^|_)(reset|init|initialize|initialise)(_|$)|reset_parameters|init_weights", re.I)


class UninitializedParameter(Rule):
    """
    ## What it does
    Flags `nn.Parameter(torch.empty(...))` and `nn.Parameter(torch.Tensor(a, b))` (the legacy
    constructor with sizes) that nothing in the file ever initialises: no `nn.init.*` call,
    no in-place fill (`.data.uniform_()`, `.normal_()`, `.copy_()`, `.zero_()`, `w.data = ...`),
    no `reset_parameters` or init function that writes it (including one given to
    `model.apply`, an isinstance-guarded Hugging Face `_init_weights`, or a loop over
    `self.parameters()`), and no helper it is passed to.

    Not flagged: parameters filled later in `__init__`, in `reset_parameters` (called or not —
    frameworks call it), in an init function `apply`'d to the model or guarded by the class;
    buffers (`register_buffer`) and `requires_grad=False` placeholders that are meant to be
    loaded, and the other parameters of a class that has such placeholders or integer/float8
    parameters (a pre-quantized layer whose scales and bias come from the checkpoint too);
    empty placeholders of size 0; classes whose base class comes from another file or
    library (its `reset_parameters` may fill them) or that call an inherited
    `reset_parameters`/`init_weights` defined elsewhere.

    ## Why is this bad?
    `torch.empty` and the legacy `torch.Tensor(a, b)` allocate memory without writing to it:
    the parameter starts with whatever bytes were there — often zeros (then every unit is
    identical and never learns anything different), sometimes huge
    values, denormals or NaN (then the first forward pass overflows). The result differs from
    run to run and machine to machine, so the bug is intermittent. Deliberate initialisation
    (random with a fan-in-scaled std: Xavier, He) is what the parameter
    needs before the first step.

    ## Example
    ```python
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Projection(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(d_out, d_in))
            self.bias = nn.Parameter(torch.zeros(d_out))

        def forward(self, x):
            return F.linear(x, self.weight, self.bias)
    ```

    ## Use instead
    ```python
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Projection(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(d_out, d_in))
            self.bias = nn.Parameter(torch.zeros(d_out))
            self.reset_parameters()

        def reset_parameters(self):
            nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

        def forward(self, x):
            return F.linear(x, self.weight, self.bias)
    ```

    ## References
    - [PyTorch: torch.empty](https://pytorch.org/docs/stable/generated/torch.empty.html) ("returns a tensor filled with uninitialized data")
    - [PyTorch: torch.nn.parameter.Parameter](https://pytorch.org/docs/stable/generated/torch.nn.parameter.Parameter.html)
    - [PyTorch: torch.nn.init](https://pytorch.org/docs/stable/nn.init.html)
    - Glorot & Bengio, [Understanding the difficulty of training deep feedforward neural networks](https://proceedings.mlr.press/v9/glorot10a.html), AISTATS 2010
    - He, Zhang, Ren & Sun, [Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification](https://arxiv.org/abs/1502.01852), ICCV 2015
    """

    code = "DL104"
    name = "uninitialized-parameter"
    summary = "Parameter created from uninitialised memory and never initialised"

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        candidates = [site for site in sem.calls_to("torch.nn.Parameter") if _uninitialised(site)]
        if not candidates:
            return
        touched_nodes, touched_names, everything = _touched(sem)
        if everything:
            return
        for site in candidates:
            if id(site.node) in touched_nodes:
                continue
            name, cls = _name_of(sem, site)
            if name is None or name in touched_names:
                continue
            if cls is not None and (_may_be_initialised_elsewhere(sem, cls) or _holds_loaded_storage(sem, cls)):
                continue
            constructor = _constructor(site)
            yield Report(
                site.node,
                f"`{name}` is created from `{constructor}` (uninitialised memory) and nothing in this file ever "
                "initialises it — its values are whatever the memory held (zeros, huge numbers or NaN, differing "
                "run to run); fill it with an `nn.init` call (in `__init__` or `reset_parameters`) or create it "
                "with `torch.zeros`/`torch.randn(...) * std`",
            )


def _inner(site: CallSite) -> Optional[cst.Call]:
    value = keyword(site.node, "data")
    if value is None:
        positional = [a for a in site.node.args if a.keyword is None and not a.star]
        value = positional[0].value if positional else None
    return value if isinstance(value, cst.Call) else None


def _constructor(site: CallSite) -> str:
    inner = _inner(site)
    qualified = site.scope.resolve(inner.func) if inner is not None else None
    return (qualified or "torch.empty") + "(...)"


def _uninitialised(site: CallSite) -> bool:
    inner = _inner(site)
    if inner is None:
        return False
    flag = keyword(site.node, "requires_grad")
    if flag is not None and isinstance(flag, cst.Name) and flag.value == "False":
        return False
    positional_flag = [a for a in site.node.args if a.keyword is None and not a.star][1:2]
    if positional_flag and isinstance(positional_flag[0].value, cst.Name) and positional_flag[0].value.value == "False":
        return False
    qualified = site.scope.resolve(inner.func)
    sizes = [a.value for a in inner.args if a.keyword is None and not a.star]
    if any(_is_zero(fold(size, site.scope)) for size in sizes):
        return False
    if qualified in _EMPTY:
        return True
    if qualified in _LEGACY:
        return _looks_like_sizes(inner, site)
    return False


def _is_zero(value) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool) and value == 0) or value == (0,) or value == [0]


def _looks_like_sizes(call: cst.Call, site: CallSite) -> bool:
    """``torch.Tensor(3, 4)`` / ``torch.Tensor(out_features, in_features)`` allocate; ``torch.Tensor([1, 2])``
    and ``torch.Tensor(values)`` copy data."""
    if any(arg.keyword is not None for arg in call.args):
        return False
    args = [arg.value for arg in call.args if not arg.star]
    if any(arg.star for arg in call.args):
        return True  # torch.Tensor(*shape)
    if not args:
        return False
    if len(args) >= 2:
        return not any(isinstance(a, (cst.List, cst.Tuple, cst.ListComp)) for a in args)
    only = args[0]
    folded = fold(only, site.scope)
    if isinstance(folded, int) and not isinstance(folded, bool):
        return True
    if isinstance(only, cst.Call):
        return site.scope.resolve(only.func) == "torch.Size"
    if isinstance(only, (cst.Name, cst.Attribute)):
        name = only.value if isinstance(only, cst.Name) else only.attr.value
        return bool(_SIZE_NAME.search(name))
    if isinstance(only, cst.BinaryOperation):
        return True  # torch.Tensor(n * 4)
    return False


def _name_of(sem: FileSemantics, site: CallSite) -> tuple[Optional[str], Optional[ClassInfo]]:
    """``self.weight`` → ("weight", its class); ``w = nn.Parameter(...)`` → ("w", None)."""
    function = site.function
    cls = function.cls if function is not None else None
    if cls is not None:
        for assignment in cls.attribute_assignments:
            value = assignment.value
            if value is site.node or (value is not None and _contains(value, site.node)):
                return assignment.name, cls
        for call in function.calls if function else ():
            if call.method == "register_parameter" and len(call.node.args) >= 2 and _contains(call.node.args[1].value, site.node):
                name = fold(call.node.args[0].value, call.scope)
                return (name if isinstance(name, str) else None), cls
        return None, cls
    bindings = site.scope.bindings
    for name, entries in bindings.items():
        for binding in entries:
            if binding.value is site.node:
                return name, None
    return None, None


def _contains(tree: cst.CSTNode, node: cst.CSTNode) -> bool:
    return any(child is node for child in iter_tree(tree))


def _touched(sem: FileSemantics) -> tuple[set[int], set[str], bool]:
    """What the file's init writes reach: ``nn.Parameter`` nodes, names written through targets
    dllint cannot resolve (or assigned in place, or handed to a helper), and whether some
    write covers every parameter of a model dllint cannot see."""
    nodes, unresolved = parameter_writes(sem)
    names: set[str] = set(filled_by_assignment(sem))
    for write in unresolved:
        names.add(write.attribute)
        names |= loop_source_names(write)
    # ``for p in model.parameters(): init(p)`` over a model of unknown content
    everything = any(loop_receiver_unknown(sem, write) and not write.path for write in sem.init_writes)
    for site in sem.info.calls:
        function = site.function
        if function is not None and function.name == "forward":
            continue
        qualified = site.qualified or ""
        if qualified.startswith("torch.") or qualified.startswith("builtins."):
            continue
        for arg in site.node.args:
            name = _tensor_name(arg.value)
            if name is not None:
                names.add(name)
    return nodes, names, everything


def _tensor_name(expr: cst.BaseExpression) -> Optional[str]:
    while isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        expr = expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    if isinstance(expr, cst.Name):
        return expr.value
    return None


_STORAGE_DTYPE = re.compile(r"^torch\.(u?int\d+|float8\w*|bool|q(u)?int\w*|float4\w*)$")


def _holds_loaded_storage(sem: FileSemantics, cls: ClassInfo) -> bool:
    """A class that creates frozen (``requires_grad=False``) or integer/float8 parameters is a
    container for weights loaded from a checkpoint (a pre-quantized linear layer): its other
    empty parameters (scales, biases) are loaded with them, not initialised."""
    for method in cls.methods.values():
        for site in method.calls:
            if site.qualified != "torch.nn.Parameter":
                continue
            flag = keyword(site.node, "requires_grad")
            if isinstance(flag, cst.Name) and flag.value == "False":
                return True
            inner = _inner(site)
            dtype = keyword(inner, "dtype") if inner is not None else None
            if dtype is not None and _STORAGE_DTYPE.match(site.scope.resolve(dtype) or ""):
                return True
    return False


def _may_be_initialised_elsewhere(sem: FileSemantics, cls: ClassInfo) -> bool:
    """A base class from another file or library (not ``nn.Module``), or a call of an inherited
    init method this file does not define."""
    seen: set[int] = set()
    stack = [cls]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for base in current.bases:
            if base is None:
                return True
            local = sem.local_class(base)
            if local is not None:
                stack.append(local)
            elif base not in catalog.MODULE_BASES and catalog.layer_op(base) is None and not base.startswith("builtins."):
                return True
    for method in cls.methods.values():
        for site in method.calls:
            if site.method and _INIT_METHODS.search(site.method) and sem.find_method(cls, site.method) is None:
                receiver = site.receiver
                if isinstance(receiver, cst.Name) and receiver.value == method.self_name:
                    return True
                if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name) and receiver.func.value == "super":
                    return True
    return False
