"""The semantics' cost grows with the code, not with its square: each fix gives the verdicts the
old walk gave, and the bound on Sequential expansions leaves normal code alone."""

from __future__ import annotations

from pathlib import Path

import libcst as cst

from dllint import semantics as semantics_module
from dllint import workers
from dllint.config import Settings
from dllint.engine import lint_sources
from dllint.semantics import Tensor
from dllint.semantics.paths import builds_modules
from dllint.semantics.values import options_of
from dllint.sources import Source
from tests.semantics.helpers import semantics

FIXTURES = Path(__file__).resolve().parents[1] / "rules" / "fixtures"


def _reaches_trainable_by_walking_forward(start: Tensor, consumers: dict[int, list[Tensor]]) -> bool:
    """ForwardGraph.hidden as it was: a walk forward from the tensor."""
    stack = list(consumers.get(id(start), ()))
    seen: set[int] = set()
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if semantics_module._is_trainable_application(tensor):
            return True
        if semantics_module._passes_on(tensor):
            stack.extend(consumers.get(id(tensor), ()))
    return False


def test_hidden_gives_the_forward_walks_verdict_on_every_tensor_of_the_fixtures() -> None:
    compared = 0
    for path in sorted(FIXTURES.glob("DL*/*.py")):
        text = path.read_text(encoding="utf-8")
        sem = semantics(text, path.name)
        for graph in sem.all_graphs():
            for tensor in graph.tensors:
                assert graph.hidden(tensor) == _reaches_trainable_by_walking_forward(tensor, graph.consumers), (
                    path, tensor
                )
                compared += 1
    assert compared > 1000


LADDER = """
import torch.nn as nn

def pick(kind, x):
    if kind == 0:
        y = x + 1
    elif kind == 1:
        y = x * 2
{middle}
    elif kind == 3:
        y = x - 1
    else:
        y = x
    return y
"""


def test_an_elif_ladder_is_judged_as_the_walk_of_each_branch_judges_it() -> None:
    for middle in ("    elif kind == 2:\n        y = x / 3", "    elif kind == 2:\n        self.layer = nn.Linear(2, 2)"):
        module = cst.parse_module(LADDER.format(middle=middle))
        sem = semantics(module.code)
        scope = sem.info.functions[0].scope
        ladder = [module.body[1].body.body[0]]
        while isinstance(ladder[-1].orelse, cst.If):
            ladder.append(ladder[-1].orelse)
        known: dict[int, bool] = {}
        for branch in ladder:  # outermost first, as the evaluator asks
            assert builds_modules(branch, scope, known) == builds_modules(branch, scope)
        assert [known[id(b)] for b in ladder] == [("nn.Linear" in middle) and i <= 2 for i in range(len(ladder))]


def test_nested_sequentials_under_the_bound_are_all_applied_on_their_own() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        stage = nn.Sequential(block, block, nn.Linear(4, 4))
        net = nn.Sequential(stage, nn.Sigmoid())
        """
    )
    assert len(sem.sequential_chains) == 3


def test_a_chain_of_nested_sequentials_is_expanded_within_the_bound() -> None:
    n = 1000
    text = "import torch.nn as nn\nx0 = nn.Linear(1, 1)\n" + "".join(
        f"x{i + 1} = nn.Sequential(x{i}, nn.Sigmoid())\n" for i in range(n)
    )
    sem = semantics(text)
    # 1000 nested Sequentials are applied recursively: on the deep stack the engine gives them
    chains = workers.AnalysisThread().call(lambda: sem.sequential_chains, 600, 600)
    applied = sum(len(chain.tensors) for chain in chains)
    items = 2 * n
    assert applied <= semantics_module.CHAIN_TENSORS_PER_ITEM * items + n  # not n²/2 = 500,000
    # the outermost chain is applied, with every one nested in it: its input, x0 and n sigmoids
    assert chains[-1].container is sem.evaluator.containers[-1] and len(chains[-1].tensors) == n + 2


def test_constants_the_arguments_name_are_folded() -> None:
    sem = semantics(
        """
        import torch.nn as nn

        def make():
            k = 5
            unrelated = 7
            return nn.Conv2d(3, 8, k, padding=k // 2)
        """
    )
    [layer] = sem.layers
    assert (layer.arg("kernel_size"), layer.arg("padding")) == (5, 2)
    assert layer.env == {"k": 5}


def test_many_sequentials_that_inline_forwards_give_no_internal_error() -> None:
    """Their applications shared one statement budget, and its BudgetExceeded escaped
    (an internal error from every rule on a 2 MB file)."""
    text = (
        "import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(2, 2)\n\n    def forward(self, x):\n        y = self.fc(x)\n        return y\n\n\n"
        + "".join(f"s{i} = nn.Sequential(Block(), nn.ReLU())\n" for i in range(2100))
    )
    result = lint_sources([Source("blocks.py", text)], Settings(use_cache=False), jobs=1)
    assert result.internal_errors == []


def test_an_optimizers_methods_are_not_evaluated_as_loops_of_their_own() -> None:
    # ``step`` runs under no_grad, like an inference function, but it updates parameters from
    # their gradients: the loops that call it are evaluated, not the optimizer itself. A
    # trainer class with the same shape of method is still a root.
    sem = semantics(
        """
        import torch
        from torch.optim import Optimizer

        class Clipped(Optimizer):
            @torch.no_grad()
            def step(self, closure=None):
                for group in self.param_groups:
                    for p in group["params"]:
                        p.add_(p.grad, alpha=-group["lr"])

        class Momentum(Clipped):
            @torch.no_grad()
            def step(self, closure=None):
                super().step(closure)

        class Trainer:
            @torch.no_grad()
            def evaluate(self, loader):
                for x, y in loader:
                    self.model(x).argmax(1)
        """
    )
    roots = {trace.root.qualname for trace in sem.traces if trace.root is not None}
    assert roots == {"Trainer.evaluate"}
