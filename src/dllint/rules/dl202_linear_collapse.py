from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Iterator, Optional

import libcst as cst

from dllint.rules.base import Option, Report, Rule
from dllint.semantics import (
    FileSemantics,
    ForwardGraph,
    Layer,
    Tensor,
    as_int_tuple,
    options_of,
    short_name,
)
from dllint.semantics.config_values import Record
from dllint.semantics.syntax import dotted_name
from dllint.semantics.values import Constant, Container, Instance, Merge, Obj, Value
from dllint.semantics.weights import RawWeights, trace_graphs, weight_shape

_AFFINE_FAMILIES = ("linear", "conv", "conv_transpose")
# Operations that keep a map linear: what may sit between the two layers of a collapse.
_LINEAR_KINDS = ("dropout", "identity", "reshape")
# Methods that read a tensor's metadata, not its values: not a second use of it.
_METADATA_METHODS = frozenset(
    {"size", "dim", "ndimension", "numel", "nelement", "is_contiguous", "get_device", "element_size", "stride",
     "data_ptr", "is_floating_point"}
)
# Names and comments that document a deliberate low-rank (or otherwise factorised) pair.
_LOW_RANK_WORDS = re.compile(
    r"lora|low[_\s-]?rank|bottleneck|factori[sz]|(^|_)rank(_|$)|separable|decompos", re.I
)
# In a class name or docstring "bottleneck" means a ResNet-style block (which has its
# activations): only the unambiguous words count there.
_LOW_RANK_CLASS_WORDS = re.compile(r"lora|low[_\s-]?rank|factori[sz]", re.I)
_LOW_RANK_PAIR_NAMES = {("a", "b"), ("down", "up"), ("u", "v"), ("encode", "decode"), ("encoder", "decoder")}


class _Affine:
    """One application of a layer, or one product with a trainable raw weight (``x @ W``,
    ``torch.mm(x, W)``, ``F.linear(x, W)``), that computes an affine map."""

    __slots__ = ("tensor", "layer", "weight")

    def __init__(self, tensor: Tensor, layer: Optional[Layer], weight: Optional[Tensor] = None) -> None:
        self.tensor = tensor
        self.layer = layer  # None for a product with a raw weight
        self.weight = weight  # the raw weight of a product

    @property
    def node(self) -> Optional[cst.CSTNode]:
        return self.layer.node if self.layer is not None else self.tensor.node

    @property
    def label(self) -> str:
        if self.layer is not None:
            return f"`{short_name(self.layer.qualified)}`"
        return "the product with a raw weight"


class LinearCollapse(Rule):
    """
    ## What it does
    Flags two affine layers applied back to back with nothing non-linear between them:
    `Linear → Linear`, `Linear → Dropout → Linear`, `Conv → Conv`, `ConvTranspose → Conv`,
    `Linear → reshape → Linear` — in an `nn.Sequential` (including nested ones and those built
    from lists or `OrderedDict`s) or in `forward`'s dataflow (across submodules). Raw weights
    count as layers: a trainable weight applied with `x @ W`, `torch.mm`, `torch.matmul` or
    `F.linear(x, W)` (an `nn.Parameter`, a tensor created with `requires_grad=True` or given to
    an optimizer), in a model class or in from-scratch module-level code (`H = X @ W1 + b1;
    return H @ W2 + b2`). Only dropout,
    `nn.Identity`, reshapes (`view`, `flatten`, `permute`, `transpose`), indexing and scaling by
    a constant may sit between them; those are all linear.

    Not flagged: a normalisation, pooling, activation, attention, gating or residual merge
    between the layers; resampling (`nn.Upsample`, `F.interpolate`) or any other operation
    dllint does not know to be linear; functional `F.linear`/`F.conv2d` and products whose
    weight is not trained (a fixed buffer — a DCT basis, a blur filter — or a plain tensor);
    a pair with a raw weight whose widths dllint cannot compare (the middle may be the
    narrowest: a factorisation); an `nn.Embedding`
    followed by a `Linear` (a lookup table and a projection are a factorised embedding —
    ALBERT's, or a frozen pretrained table with a trainable projection — not two layers of
    depth); a layer whose output is also used elsewhere (returned as features, split with
    `chunk` into several branches); layers applied under a condition, or built in different
    arms of an `if`/`else` (a ViT head that is either one `Linear` or
    `pre_logits → tanh → head`).

    By default also not flagged: deliberate low-rank or factorised pairs, where the two
    layers cost fewer parameters than the single layer they equal —

    - the middle width is smaller than both ends (`Linear(768, 64) → Linear(64, 768)`, also
      written with expressions: `Linear(c, c // 16) → Linear(c // 16, c)`), or the widths
      cannot be compared (`Linear(hid_dim, emb_dim) → Linear(emb_dim, out_dim)` with nothing
      in the file fixing them) — only a middle provably at least as wide as one end (an
      expansion `dim → 4 * dim → dim`, equal widths) makes the pair a collapse;
    - a second layer whose output feeds a gated linear unit (`F.glu`, `nn.GLU`: a gate and
      a value from one projection, as in the Temporal Fusion Transformer's gated residual
      network);
    - a depthwise or grouped conv next to another layer (a depthwise-separable convolution,
      SegFormer's `Linear → depthwise conv`), or a `1×k` conv next to a `k×1` one;
    - a pointwise layer (`Linear`, 1×1 conv) that changes the width next to a spatial conv
      (DPT's "project with a 1×1, then resize"), unless the widths fold and show the pair costs
      more; a *square* pointwise layer (`Linear(d, d)` right after a conv that outputs `d`)
      is always flagged, since it folds into its neighbour for free;
    - pairs whose names, width expressions or comments say so (`lora_A`/`lora_B`,
      `down`/`up`, `bottleneck`, `config.adapter_rank`, `# low-rank factorisation`), or that
      sit in a class named or documented as LoRA / low-rank / factorised.

    Not judged: files that publish trained weights for their models (a Hugging Face
    `PreTrainedModel` family, timm's `@register_model`, torchvision's `WeightsEnum`, weights
    downloaded by URL, a pretrained zoo model's state dict loaded into the file's model,
    checkpoints the file downloads and then loads from the same path or directory:
    `urlretrieve(url, os.path.join(CKPT_DIR, name))` then
    `Model.load_from_checkpoint(os.path.join(CKPT_DIR, name))`):
    the checkpoints fix their architecture, and a change would break
    loading them.

    Not judged either, in a notebook: networks it only demonstrates — builds, prints, runs
    forward, initialises or inspects, but never trains (no optimizer gets their parameters, no
    training loop runs them, they are not saved, and they are not handed to code dllint cannot
    see into, such as a book's training helper). A notebook cannot be imported, so nobody else
    trains them either.

    Nor, in a notebook, a purely linear network it contrasts with its repair: a course that
    trains `nn.Sequential(nn.Linear(2, 5), nn.Linear(5, 1))` to show that it cannot fit the
    data, and then the same network with an activation between its layers. The finding is not
    reported when every whole network it sits in (a model class as the notebook builds it, or
    an `nn.Sequential` no other network holds) has no activation between any of its weight
    layers, and the notebook also builds another network from the same input width to the
    same output width (constants, or the same module-level name such as `D`, `H`), through at
    least as many weight layers, with an activation between every two. A repair of another
    shape, other widths or widths dllint cannot tell (a class parameter it could not fold)
    does not count, and neither does a linear chain inside a larger network. Nor is it
    reported, in a notebook, when the activation between the two layers is commented out
    (`# nn.ReLU(),` alone on a line between them in the same `nn.Sequential` or `forward`,
    with no commented-out layer next to it): the author took it out, as an exercise for the
    reader. Scripts (`.py`) are always judged: their networks are imported and used elsewhere.

    ## Why is this bad?
    A composition of affine maps is one affine map: `W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1
    + b2)`. Without a non-linearity between them the two layers can represent nothing a single
    layer could not (the network cannot even learn XOR: Goodfellow et al., *Deep Learning*,
    §6.1), yet they cost the parameters, compute and
    optimisation difficulty of two. It almost always means an activation was forgotten.

    ## Example
    ```python
    import torch.nn as nn

    mlp = nn.Sequential(
        nn.Linear(784, 512),
        nn.Dropout(0.1),
        nn.Linear(512, 10),
    )
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    mlp = nn.Sequential(
        nn.Linear(784, 512),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(512, 10),
    )
    ```

    ## Options
    - `scope` (string, default `"straight-line"`): `"straight-line"` flags `nn.Sequential`s and
      straight chains in `forward` — the first layer's output feeds only the second and is
      not returned, and no branch decides whether something non-linear runs between them.
      `"all"` also flags a pair when the first layer's output is used elsewhere as well
      (returned as a feature, fed to several heads) or when only some branch leaves the two
      layers adjacent; that finds more forgotten activations but also flags projections whose
      output is deliberately shared (a linear feature returned and also classified).
    - `allow-low-rank` (bool, default true): do not flag the deliberate low-rank and
      factorised pairs listed above. Such a pair *is* one linear map, but a constrained,
      cheaper one (LoRA adapters, ALBERT-style factorised projections, depthwise-separable
      convolutions, a channel projection before an upsampling layer), so it is a design
      choice rather than a forgotten activation. The price: a forgotten activation between a
      1×1 conv and a 3×3 conv whose widths dllint cannot fold goes unreported. Set it to false
      to see every pair.

    ## References
    - Goodfellow, Bengio & Courville, [Deep Learning](https://www.deeplearningbook.org/contents/mlp.html), §6.1 (a linear model cannot learn XOR: the hidden layer needs a non-linearity)
    - Saxe, McClelland & Ganguli, [Exact solutions to the nonlinear dynamics of learning in deep linear neural networks](https://arxiv.org/abs/1312.6120), ICLR 2014 (a deep linear network computes one linear map)
    - [PyTorch: torch.nn.Linear](https://pytorch.org/docs/stable/generated/torch.nn.Linear.html)
    """

    code = "DL202"
    name = "linear-collapse"
    summary = "Two affine layers with nothing non-linear between them"
    judges_architecture = True
    finds_missing_activation = True
    options = {
        "scope": Option("straight-line", 'Where to look: "straight-line" (Sequentials and single-use forward chains) or "all"'),
        "allow-low-rank": Option(True, "Do not flag pairs that are deliberate low-rank or factorised layers"),
    }

    def __init__(self, settings=None) -> None:
        super().__init__(settings)
        if self.settings["scope"] not in ("straight-line", "all"):
            raise ValueError(f'option `scope` of {self.code} must be "straight-line" or "all", got {self.settings["scope"]!r}')

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        straight = self.settings["scope"] == "straight-line"
        reported: set[tuple[int, int]] = set()
        raw = sem.raw_weights
        graphs = [(graph, False) for graph in sem.all_graphs()] + [(graph, True) for graph in trace_graphs(sem)]
        for graph, raw_only in graphs:
            escaping = _returned_ids(sem, graph.returns)
            for tensor in graph.tensors:
                second = _affine(tensor, raw)
                if second is None or not tensor.inputs or (raw_only and second.weight is None) or _gated(graph, tensor):
                    continue
                for first, between in _preceding_affines(graph, tensor.inputs[0], escaping, straight, raw):
                    key = (id(first.node), id(second.node))
                    if key in reported or first.node is None or second.node is None:
                        continue
                    if raw_only and first.weight is None:
                        continue  # module-level code: only products with raw weights (layers are judged in their own graphs)
                    if isinstance(first.node, cst.Call) and isinstance(second.node, cst.Call) and sem.exclusive(first.node, second.node):
                        continue  # built in different arms of one if/else: never neighbours
                    if self.settings["allow-low-rank"] and _low_rank(sem, first, second):
                        continue
                    if _joined_nonlinearly_elsewhere(sem, first, second):
                        continue  # a shortcut path (``if S == 0: return out(q(x))``) past the usual attention
                    reported.add(key)
                    yield Report(_site(sem, second), _message(sem, first, second, between))


def _joined_nonlinearly_elsewhere(sem: FileSemantics, first: _Affine, second: _Affine) -> bool:
    """Whether, on another path of the same forward, the first layer's output reaches the
    second layer through something non-linear (attention, an activation): then the direct
    pair is a deliberate bypass of that computation, not a forgotten activation."""
    if first.layer is None or second.layer is None:
        return False
    for graph in sem.all_graphs():
        starts = [t for t, layer in graph.module_applications() if layer is first.layer and t is not first.tensor]
        for start in starts:
            stack = [(consumer, False) for consumer in graph.consumers.get(id(start), ())]
            seen: set[int] = set()
            while stack:
                tensor, nonlinear = stack.pop()
                if id(tensor) in seen or len(seen) > 200:
                    continue
                seen.add(id(tensor))
                if tensor.kind == "module" and tensor.target is second.layer:
                    if nonlinear:
                        return True
                    continue
                op = tensor.module_op
                opaque = tensor.kind in ("call", "binop") or (tensor.kind == "module" and not isinstance(tensor.target, Layer))
                step_nonlinear = nonlinear or opaque or (op is not None and op.kind not in _LINEAR_KINDS and op.kind != "affine")
                stack.extend((consumer, step_nonlinear) for consumer in graph.consumers.get(id(tensor), ()))
    return False


def _affine(tensor: Tensor, raw: RawWeights) -> Optional[_Affine]:
    weight = raw.weight_of(tensor)
    if weight is not None:
        return _Affine(tensor, None, weight)
    op = tensor.module_op
    if op is None or op.kind != "affine" or op.family not in _AFFINE_FAMILIES:
        return None
    if tensor.kind == "module" and isinstance(tensor.target, Layer):
        return _Affine(tensor, tensor.target)
    # Functional F.linear / F.conv2d with a weight that is not trainable here are not
    # counted: their weight is as often a fixed buffer (a DCT basis, a blur or resampling
    # filter) as a trainable parameter.
    return None


def _preceding_affines(graph: ForwardGraph, value: Value, escaping: set[int], straight: bool, raw: RawWeights):
    """The affine applications whose output reaches ``value`` through linear operations only,
    each with the operations passed on the way (in order)."""
    found = []
    stack: list[tuple[Value, tuple[Tensor, ...]]] = [(value, ())]
    seen: set[int] = set()
    while stack:
        current, between = stack.pop()
        if isinstance(current, Merge):
            if straight:
                continue
            stack.extend((option, between) for option in current.options)
            continue
        if not isinstance(current, Tensor) or id(current) in seen:
            continue
        seen.add(id(current))
        if straight and not _single_use(graph, current, escaping):
            continue
        first = _affine(current, raw)
        if first is not None:
            found.append((first, between))
            continue
        flowing = _linear_input(current)
        if flowing is not None:
            stack.append((flowing, (current,) + between))
    return found


def _linear_input(tensor: Tensor) -> Optional[Value]:
    """The input a linear, weightless operation passes on (None if the operation is not one)."""
    op = tensor.module_op
    if op is not None:
        return tensor.inputs[0] if op.kind in _LINEAR_KINDS and tensor.inputs else None
    if tensor.kind in ("subscript", "unary") and tensor.inputs:
        return tensor.inputs[0]
    if tensor.kind == "binop" and tensor.target in ("Multiply", "Divide", "Add", "Subtract"):
        # ``h * 0.5`` or ``h + self.bias`` continue the map; with two computed (or unknown)
        # operands it is a merge — a residual add, a gate.
        flowing = [s for s in tensor.inputs if not _constant_operand(s)]
        return flowing[0] if len(flowing) == 1 else None
    return None


def _constant_operand(value: Value) -> bool:
    return isinstance(value, Constant) or (isinstance(value, Tensor) and value.kind in ("fresh", "parameter"))


def _gated(graph: ForwardGraph, tensor: Tensor) -> bool:
    """The layer's output goes into a gated linear unit (``F.glu``, ``nn.GLU``): the pair
    computes a gate and a value from one projection, which no single affine map does."""
    return any(
        (op := consumer.module_op) is not None and op.family == "gate" for consumer in graph.consumers.get(id(tensor), ())
    )


def _single_use(graph: ForwardGraph, tensor: Tensor, escaping: set[int]) -> bool:
    if id(tensor) in escaping:
        return False
    uses = [c for c in graph.consumers.get(id(tensor), ()) if not (c.kind == "method" and c.target in _METADATA_METHODS)]
    return len(uses) <= 1


def _returned_ids(sem: FileSemantics, values: list[Value]) -> set[int]:
    """Everything a forward pass returns, looking into tuples, dicts and output objects
    (``ModelOutput(logits=..., embeddings=...)``)."""
    found: set[int] = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        if id(value) in found:
            continue
        found.add(id(value))
        if isinstance(value, Merge):
            stack.extend(value.options)
        elif isinstance(value, Container):
            stack.extend(value.items)
        elif isinstance(value, Obj):
            stack.extend(value.args)
            stack.extend(value.kwargs.values())
        elif isinstance(value, Record):
            stack.extend(value.fields.values())
        elif isinstance(value, Instance):
            stack.extend(value.init_args.values())
            if isinstance(value.node, cst.Call):
                for _callee, args, kwargs in sem.observed(value.node):
                    stack.extend(args)
                    stack.extend(kwargs.values())
    return found


def _direct_call(sem: FileSemantics, affine: _Affine) -> Optional[cst.Call]:
    """The call that applies the layer itself (``self.fc2(h)`` in a ``forward``), if that is
    how it is applied (not as an item of a Sequential)."""
    node = affine.tensor.node
    if affine.layer is None or not isinstance(node, cst.Call):
        return None
    callees = {id(getattr(option, "node", option)) for callee, _args, _kwargs in sem.observed(node) for option in options_of(callee)}
    # A call in a loop over a ModuleList applies several layers: the layer's own line says
    # which one is meant.
    return node if callees == {id(affine.layer.node)} else None


def _site(sem: FileSemantics, second: _Affine) -> cst.CSTNode:
    """Where the second layer is applied when that is a call of the layer itself (a
    ``forward`` line), else where it is built (its place in a Sequential); for a product with
    a raw weight, the product."""
    if second.layer is None:
        return second.tensor.node  # type: ignore[return-value]
    call = _direct_call(sem, second)
    return call if call is not None else second.layer.node


def _label(sem: FileSemantics, affine: _Affine) -> str:
    if affine.layer is None:
        text = cst.Module(body=[]).code_for_node(affine.tensor.node) if affine.tensor.node is not None else ""
        return f"`{text}`" if text and len(text) <= 60 and "\n" not in text else affine.label
    call = _direct_call(sem, affine)
    kind = affine.label
    if call is not None:
        return f"`{cst.Module(body=[]).code_for_node(call.func)}` ({kind})"
    return kind


def _message(sem: FileSemantics, first: _Affine, second: _Affine, between: tuple[Tensor, ...]) -> str:
    via = ""
    if between:
        kinds = []
        for tensor in between:
            op = tensor.module_op
            word = op.kind if op is not None else {"subscript": "indexing", "unary": "negation", "binop": "scaling"}.get(tensor.kind, tensor.kind)
            if tensor.kind == "binop" and tensor.target in ("Add", "Subtract"):
                word = "a bias"
            if word not in kinds:
                kinds.append(word)
        via = f" with only {', '.join(kinds)} between them"
    return (
        f"{_label(sem, second)} is applied right after {_label(sem, first)}{via}: two affine maps compose into one, so the pair "
        "is no more expressive than a single layer — add an activation between them (or merge them into one layer)"
    )


# low-rank / factorised pairs ----------------------------------------------------------------


def _low_rank(sem: FileSemantics, first: _Affine, second: _Affine) -> bool:
    """Whether the pair is a deliberate factorisation of one layer into two cheaper ones."""
    if first.layer is None or second.layer is None:
        return not _raw_pair_widens(sem, first, second)
    a, b = first.layer, second.layer
    return (
        _narrow_middle(a, b)
        or _separable(a, b)
        or _pointwise_and_spatial(a, b)
        or _named_low_rank(sem, a, b)
    )


def _raw_pair_widens(sem: FileSemantics, first: _Affine, second: _Affine) -> bool:
    """For a pair with a raw weight: whether the middle width is provably at least as wide as
    one end (the sizes fold, or compare symbolically: ``d`` and ``d``, ``4 * d`` and ``d``) —
    when that cannot be told, the pair may be a deliberate low-rank factorisation."""
    widths = [_affine_widths(sem, affine) for affine in (first, second)]
    if widths[0] is None or widths[1] is None:
        return False
    (start, middle), (middle_again, end) = widths[0], widths[1]
    symbolic = [_symbolic(expr, value) for expr, value in (start, middle, middle_again, end)]
    middles = [width for width in symbolic[1:3] if width is not None]
    ends = [width for width in (symbolic[0], symbolic[3]) if width is not None]
    return any(_at_least(m, e) for m in middles for e in ends)


def _symbolic(expr: cst.BaseExpression, value: Any) -> Optional[tuple[Optional[str], Fraction]]:
    return (None, Fraction(value)) if _is_int(value) else _linear_in_one_symbol(expr)


def _affine_widths(sem: FileSemantics, affine: _Affine):
    """((input width expression, value), (output width expression, value)) of an affine map."""
    if affine.layer is not None:
        (value_in, expr_in), (value_out, expr_out) = _width(affine.layer, "in"), _width(affine.layer, "out")
        return ((expr_in, value_in), (expr_out, value_out)) if expr_in is not None and expr_out is not None else None
    shape = weight_shape(sem, affine.weight) if affine.weight is not None else None
    if shape is None or len(shape) != 2:
        return None
    linear = affine.tensor.kind == "function" and affine.tensor.target == "torch.nn.functional.linear"
    return (shape[1], shape[0]) if linear else (shape[0], shape[1])  # F.linear's weight is (out, in); x @ W's is (in, out)


def _width(layer: Layer, side: str) -> tuple[Any, Optional[cst.BaseExpression]]:
    """The folded input or output width of a layer, with the expression that gives it."""
    if layer.op.family == "linear":
        name = "in_features" if side == "in" else "out_features"
    else:
        name = "in_channels" if side == "in" else "out_channels"
    return layer.arg(name), layer.args.get(name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _narrow_middle(first: Layer, second: Layer) -> bool:
    """A rank bottleneck — the middle width smaller than both ends — or a pair whose widths
    cannot be compared (``Linear(dim, rank) → Linear(rank, out)``): only a pair whose middle is
    provably at least as wide as one end (an expansion, or equal widths) is a collapse."""
    middle = _symbolic_width(first, "out") or _symbolic_width(second, "in")
    ends = [width for width in (_symbolic_width(first, "in"), _symbolic_width(second, "out")) if width is not None]
    if middle is None:
        return True
    return not any(_at_least(middle, end) for end in ends)


def _symbolic_width(layer: Layer, side: str) -> Optional[tuple[Optional[str], Fraction]]:
    """A width as (symbol, factor): ``(None, 256)`` for a constant, ``("c", 1/16)`` for
    ``c // 16``, ``("config.hidden_size", 4)`` for ``4 * config.hidden_size``."""
    value, expr = _width(layer, side)
    if _is_int(value):
        return None, Fraction(value)
    return _linear_in_one_symbol(expr) if expr is not None else None


def _linear_in_one_symbol(expr: cst.BaseExpression, depth: int = 0) -> Optional[tuple[Optional[str], Fraction]]:
    if depth > 6:
        return None
    if isinstance(expr, cst.Integer):
        return None, Fraction(int(expr.value.replace("_", ""), 0))
    name = dotted_name(expr)
    if name is not None:
        return name, Fraction(1)
    if isinstance(expr, cst.BinaryOperation):
        left = _linear_in_one_symbol(expr.left, depth + 1)
        right = _linear_in_one_symbol(expr.right, depth + 1)
        if left is None or right is None:
            return None
        if isinstance(expr.operator, cst.Multiply):
            if left[0] is None:
                return right[0], right[1] * left[1]
            if right[0] is None:
                return left[0], left[1] * right[1]
        if isinstance(expr.operator, (cst.FloorDivide, cst.Divide)) and right[0] is None and right[1]:
            return left[0], left[1] / right[1]
    return None


def _at_least(a: tuple[Optional[str], Fraction], b: tuple[Optional[str], Fraction]) -> bool:
    """Whether width ``a`` is provably ≥ width ``b`` (same symbol, or both constants)."""
    return a[0] == b[0] and a[1] >= b[1]


def _kernel(layer: Layer) -> Optional[tuple[int, ...]]:
    """The kernel size; ``(1,)`` for a Linear (a pointwise map); None when unknown."""
    if layer.op.family == "linear":
        return (1,)
    return as_int_tuple(layer.arg("kernel_size"))


def _pointwise(layer: Layer) -> bool:
    kernel = _kernel(layer)
    return kernel is not None and all(k == 1 for k in kernel)


def _separable(first: Layer, second: Layer) -> bool:
    """A depthwise/grouped conv next to another layer (a depthwise-separable convolution), or
    a 1xk conv next to a kx1 one (a spatially factorised kernel)."""
    if _grouped(first) or _grouped(second):
        return True
    a, b = _kernel(first), _kernel(second)
    if a is None or b is None or len(a) != len(b) or len(a) < 2:
        return False
    return all(x == 1 or y == 1 for x, y in zip(a, b)) and any(x > 1 for x in a) and any(y > 1 for y in b)


def _grouped(layer: Layer) -> bool:
    if layer.op.family == "linear":
        return False
    groups = layer.arg("groups", 1)
    return not (_is_int(groups) and groups == 1)


def _pointwise_and_spatial(first: Layer, second: Layer) -> bool:
    """A pointwise layer (Linear, 1x1 conv) that changes the width next to a spatial conv:
    channel mixing and spatial filtering split across two layers, which costs fewer
    parameters than the one conv they equal when the pointwise layer reduces the width (the
    DPT/FPN "project, then resize" pattern). Not a factorisation when the pointwise layer is
    square — it could be folded into its neighbour for free — or when the folded widths show
    that the pair costs more than the single layer."""
    if _pointwise(first) == _pointwise(second):
        return False
    pointwise = first if _pointwise(first) else second
    (width_in, expr_in), (width_out, expr_out) = _width(pointwise, "in"), _width(pointwise, "out")
    if _is_int(width_in) and _is_int(width_out):
        if width_in == width_out:
            return False
    elif expr_in is not None and expr_out is not None and _same_expression(expr_in, expr_out):
        return False
    widths = [_width(first, "in")[0], _width(first, "out")[0], _width(second, "out")[0]]
    kernel = _kernel(second if pointwise is first else first)
    if all(_is_int(w) for w in widths) and kernel is not None:
        outer, middle, last = widths
        size = 1
        for k in kernel:
            size *= k
        pair = outer * middle * (1 if pointwise is first else size) + middle * last * (size if pointwise is first else 1)
        return pair < outer * last * size
    return True


def _same_expression(a: cst.BaseExpression, b: cst.BaseExpression) -> bool:
    module = cst.Module(body=[])
    return module.code_for_node(a) == module.code_for_node(b)


def _named_low_rank(sem: FileSemantics, first: Layer, second: Layer) -> bool:
    """Names, comments or width expressions that call the pair low-rank (``lora_A``/``lora_B``,
    ``down``/``up``, ``bottleneck``, ``config.adapter_rank``, ``# low-rank factorisation``)."""
    names_a, names_b = sem.holder_names(first), sem.holder_names(second)
    for name in names_a | names_b:
        if _LOW_RANK_WORDS.search(name):
            return True
    for a in names_a:
        for b in names_b:
            if _pair_suffixes(a, b) in _LOW_RANK_PAIR_NAMES:
                return True
    module = cst.Module(body=[])
    for _, expr in (_width(first, "out"), _width(second, "in")):
        if expr is not None and _LOW_RANK_WORDS.search(module.code_for_node(expr)):
            return True
    for layer in (first, second):
        cls = layer.scope.function.cls if layer.scope.function is not None else None
        if cls is not None and (_LOW_RANK_CLASS_WORDS.search(cls.name) or _LOW_RANK_CLASS_WORDS.search(_docstring(cls.node))):
            return True
        if any(_LOW_RANK_WORDS.search(comment) for comment in sem.comments_near(layer.node)):
            return True
    return False


def _pair_suffixes(a: str, b: str) -> tuple[str, str]:
    """``("a", "b")`` for ``lora_A``/``lora_B``, ``("down", "up")`` for ``down_proj``/``up_proj``:
    the parts in which two names differ."""
    parts_a, parts_b = re.split(r"[_.]", a.lower()), re.split(r"[_.]", b.lower())
    if len(parts_a) != len(parts_b):
        return ("", "")
    differing = [(x, y) for x, y in zip(parts_a, parts_b) if x != y]
    return differing[0] if len(differing) == 1 else ("", "")


def _docstring(node: cst.ClassDef) -> str:
    return node.get_docstring() or ""
