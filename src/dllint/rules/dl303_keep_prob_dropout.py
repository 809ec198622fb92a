from __future__ import annotations

import re
from typing import Any, Iterator, Optional

import libcst as cst

from dllint.findings import UNSAFE
from dllint.rules.base import Option, Report, Rule, TextEdit
from dllint.semantics import UNKNOWN, FileSemantics, fold, short_name
from dllint.semantics.syntax import bind_arguments, dotted_name
from dllint.semantics.config_values import ConfigValue, config_source
from dllint.semantics.values import Constant

# Functional dropout and where its drop probability sits among the positional arguments.
_FUNCTIONAL = {
    "torch.nn.functional.dropout": 1,
    "torch.nn.functional.dropout1d": 1,
    "torch.nn.functional.dropout2d": 1,
    "torch.nn.functional.dropout3d": 1,
    "torch.nn.functional.alpha_dropout": 1,
    "torch.nn.functional.feature_alpha_dropout": 1,
    "torch.dropout": 1,
    "torch.alpha_dropout": 1,
    "torch.feature_dropout": 1,
}
_KEEP_NAME = re.compile(r"(^|_)keep_?(prob|probability|rate|ratio|p)$", re.I)


class KeepProbDropout(Rule):
    """
    ## What it does
    Flags dropout whose drop probability is `min-p` (default 0.8) or more: `nn.Dropout(p)`,
    `nn.Dropout1d/2d/3d`, `nn.AlphaDropout`, and the functional forms `F.dropout(x, p)`,
    `F.dropout2d(x, p)`, `torch.dropout(x, p, train)`. The probability is folded from literals,
    module-level constants, the arguments a model class was built with
    (`Net(keep_prob=0.9)` → the `nn.Dropout(keep_prob)` inside it), and configuration: an
    `argparse` option's default (`args.dropout` with `--dropout` defaulting to 0.9), a field of
    a dataclass, `NamedTuple` or config class (`cfg.dropout`). When it comes from the arguments
    of one call site, the finding is reported at that call; when it is an option's default the
    user can override, the finding says so ("with the default `--dropout 0.9`").

    Not flagged: probabilities up to 0.7, and values dllint cannot fold (a config loaded from a
    file, a parameter without a default, an option without a default, one with `choices=`, or a
    namespace handed to code that may change it).

    ## Why is this bad?
    In PyTorch, `p` is the probability that a unit is *zeroed* (and the survivors are scaled
    by `1 / (1 - p)`). TensorFlow 1's `tf.nn.dropout(x, keep_prob)` and the dropout paper
    itself (Srivastava et al., 2014: each unit is *retained* with probability p) describe the
    *keep* probability instead. Code ported from
    those with the number unchanged — `nn.Dropout(0.9)` meaning "keep 90%" — drops 90% of the
    units: the network trains on a tenth of its features, with the survivors amplified ten
    times, and underfits badly while nothing errors.

    ## Example
    ```python
    import torch.nn as nn

    head = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Dropout(0.9), nn.Linear(256, 10))
    ```

    ## Use instead
    ```python
    import torch.nn as nn

    keep_prob = 0.9
    head = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Dropout(1 - keep_prob), nn.Linear(256, 10))
    ```

    ## Options
    - `min-p` (float, default 0.8): the smallest drop probability flagged. Very high dropout
      is occasionally deliberate (some input-dropout and data-augmentation schemes, or
      "word dropout" on tokens); raise it to 0.95 or more if you use such rates on purpose.
    - `keep-prob-names` (bool, default false): also flag a drop probability dllint cannot
      fold when it is a variable *named* like a keep probability (`nn.Dropout(keep_prob)`,
      `F.dropout(x, self.keep_rate)`) — the name says it holds the opposite of what PyTorch
      expects. Off by default because the value itself is unknown.

    ## Fix safety
    The fix (`--unsafe-fixes`) replaces `p` with `1 - p`: `0.9` → `0.1`, `KEEP` → `1 - KEEP`,
    `keep_prob` → `1 - keep_prob`. It is unsafe because it assumes the number was meant as a keep
    probability — only the author knows — and it changes how much the network drops. It is
    offered only where the written argument is that probability for every layer the line builds:
    a number, a module constant, or a name that says it is a keep probability; not a parameter
    whose value comes from each caller (`def block(p): ... nn.Dropout(p)`), and not when the
    finding is reported at the call that builds the model (`Net(rate=0.95)`).

    ## References
    - [PyTorch: torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html) ("p – probability of an element to be zeroed")
    - [PyTorch: torch.nn.functional.dropout](https://pytorch.org/docs/stable/generated/torch.nn.functional.dropout.html)
    - Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, [Dropout: A Simple Way to Prevent Neural Networks from Overfitting](https://jmlr.org/papers/v15/srivastava14a.html), JMLR 2014 (there p is the probability of *retaining* a unit)
    """

    code = "DL303"
    name = "keep-prob-dropout"
    summary = "Dropout probability that looks like a keep probability"
    fixable = True
    fix_applicability = (UNSAFE,)
    options = {
        "min-p": Option(0.8, "Smallest drop probability that is flagged", minimum=0, maximum=1),
        "keep-prob-names": Option(False, "Also flag an unfoldable p held by a variable named like keep_prob"),
    }

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        limit = self.settings["min-p"]
        names = self.settings["keep-prob-names"]
        reported: set[int] = set()
        for layer in sem.layers:
            if layer.op.kind != "dropout":
                continue
            p = layer.arg("p", 0.5)
            node: cst.CSTNode = layer.node
            if _is_number(p):
                if p < limit:
                    continue
                node, where = layer.report_site("p")
                message = _message(short_name(layer.qualified), p, where)
            elif names and _keep_named(layer.args.get("p")):
                message = _name_message(short_name(layer.qualified), layer.args["p"])
            else:
                continue
            if id(node) in reported:
                continue
            reported.add(id(node))
            edits = _complement(layer.args.get("p"), p, layer.scope) if node is layer.node else ()
            yield _report(node, message, edits)
        for qualified, index in _FUNCTIONAL.items():
            for site in sem.calls_to(qualified):
                if id(site.node) in reported:
                    continue
                expr = bind_arguments(site.node, ("input", "p")).get("p")
                p, source = _functional_p(sem, site.node, expr, index, site.scope)
                if _is_number(p):
                    if p < limit:
                        continue
                    message = _message(short_name(qualified), p, f" ({source.describe()})" if source is not None else "")
                elif names and _keep_named(expr):
                    message = _name_message(short_name(qualified), expr)
                else:
                    continue
                reported.add(id(site.node))
                yield _report(site.node, message, _complement(expr, p, site.scope))


def _report(node: cst.CSTNode, message: str, edits: tuple[TextEdit, ...]) -> Report:
    return Report(
        node,
        message,
        fix_message="Use `1 - p` (if `p` was meant as the probability to keep)" if edits else None,
        edits=edits,
        applicability=UNSAFE,
    )


def _complement(expr: Optional[cst.BaseExpression], p: Any, scope) -> tuple[TextEdit, ...]:
    """``p`` → ``1 - p`` where the written argument *is* this probability for every use of the
    line: a number (replaced by its complement), a module constant or a keep-probability
    name (wrapped in ``1 - ...``). Not when it is passed in by the caller (a parameter
    whose value differs between calls), or not written at all."""
    if expr is None:
        return ()
    if _is_number(p) and isinstance(expr, (cst.Integer, cst.Float)):
        return (TextEdit(expr, f"{round(1 - p, 6):g}"),)
    if _is_number(p) and fold(expr, scope) != p:
        return ()  # the value comes from the caller (this line is also used with other values)
    if not _is_number(p) and not _keep_named(expr):
        return ()
    if isinstance(expr, (cst.Name, cst.Attribute)):
        return (TextEdit.before(expr, "1 - "),)
    return (TextEdit.before(expr, "1 - ("), TextEdit(expr, ")", start="end"))


def _functional_p(
    sem: FileSemantics, node: cst.Call, expr: Optional[cst.BaseExpression], index: int, scope
) -> tuple[Any, Optional[ConfigValue]]:
    """The drop probability a functional dropout call receives, and the configuration default
    it is, if it is one: the largest constant the evaluations saw reach it (a helper called
    with a high rate from one caller drops that much there; an evaluation of the helper on its
    own, with its parameters unknown, says nothing), else the folded argument (0.5 when it is
    not passed)."""
    if expr is None:
        return (UNKNOWN if any(arg.star for arg in node.args) else 0.5), None
    seen: list[Constant] = []
    for _callee, args, kwargs in sem.observed(node):
        value = kwargs.get("p", args[index] if len(args) > index else None)
        if isinstance(value, Constant) and _is_number(value.value):
            seen.append(value)
    if seen:
        highest = max(seen, key=lambda constant: constant.value)
        return highest.value, config_source(highest)
    return fold(expr, scope, _defaults(expr, scope)), None


def _defaults(expr: cst.BaseExpression, scope) -> dict[str, Any]:
    """Literal defaults of the enclosing function's parameters that the expression names
    (``def mc_dropout(x, keep=0.9)``), for functions no evaluation called."""
    env: dict[str, Any] = {}
    names = [expr] if isinstance(expr, cst.Name) else []
    for name in names:
        bindings = scope.lookup(name.value) or []
        if len(bindings) == 1 and bindings[0].kind == "param" and isinstance(bindings[0].node, cst.Param):
            default = bindings[0].node.default
            if default is not None and scope.parent is not None:
                value = fold(default, scope.parent)
                if value is not UNKNOWN:
                    env[name.value] = value
    return env


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _keep_named(expr: Optional[cst.BaseExpression]) -> bool:
    name = dotted_name(expr) if expr is not None else None
    return bool(name and _KEEP_NAME.search(name.rsplit(".", 1)[-1]))


def _message(what: str, p: float, where: str = "") -> str:
    return (
        f"`{what}` drops {p:g} of the units{where}: PyTorch's `p` is the probability to *zero* a unit, not to keep it "
        f"(TF1's `keep_prob`) — if you meant to keep {p:g}, pass `p={round(1 - p, 6):g}`"
    )


def _name_message(what: str, expr: cst.BaseExpression) -> str:
    name = dotted_name(expr)
    return (
        f"`{what}` is given `{name}` as its drop probability, but the name says it is a keep probability: "
        f"PyTorch's `p` is the probability to *zero* a unit — pass `1 - {name}`"
    )
