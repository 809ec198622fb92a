"""The facts fixes ask: where a node sits (structure), how many dimensions a tensor has
(ranks), whether an output activation can be taken out (outputs), whether a model is trained
again after a call (loops.trained_after)."""

from __future__ import annotations

import libcst as cst

from dllint.semantics import outputs
from dllint.semantics.loops import trained_after
from dllint.semantics.losses import loss_inputs
from dllint.semantics.ranks import rank, softmax_implicit_dim
from tests.semantics.helpers import semantics


def _call(sem, text: str) -> cst.Call:
    for site in sem.info.calls:
        if cst.Module(body=[]).code_for_node(site.node) == text:
            return site.node
    raise AssertionError(f"no call {text!r}")


# --- structure --------------------------------------------------------------------------------

def test_name_uses_tell_stores_from_loads() -> None:
    sem = semantics(
        """
        def f(model, loader):
            for x, y in loader:
                out = model(x)
                a, (b, out2) = out, out
                total += out.sum()
                del out2
            return obj.out, g(out=1)
        """
    )
    function = sem.module.body[0]
    stores, loads = sem.structure.name_uses(function, "out")
    assert len(stores) == 1 and len(loads) == 3  # `obj.out` and the keyword `out=` are neither
    stores2, loads2 = sem.structure.name_uses(function, "out2")
    assert (len(stores2), len(loads2)) == (2, 0)  # unpacking target, del
    total_stores, total_loads = sem.structure.name_uses(function, "total")
    assert (len(total_stores), len(total_loads)) == (1, 1)  # augmented assignment: both


def test_blocks_indentation_and_early_exits() -> None:
    sem = semantics(
        """
        import torch

        def evaluate(model, batches):
            \"\"\"Docstring.\"\"\"
            with torch.no_grad():
                for x in batches:
                    model(x)
            with torch.no_grad():
                return model(batches[0])

        x = 1; y = torch.ones(1)
        """
    )
    first = _call(sem, "model(x)")
    block = sem.structure.no_grad_block(first)
    assert isinstance(block, cst.With)
    assert sem.structure.indentation(block) == "    "
    assert not sem.structure.exits_early(block)
    second = sem.structure.no_grad_block(_call(sem, "model(batches[0])"))
    assert second is not block and sem.structure.exits_early(second)
    function = sem.module.body[1]
    assert sem.structure.first_statement(function) is block  # after the docstring
    assert sem.structure.top_statement(first, function) is block
    assert sem.structure.indentation(sem.structure.statement(_call(sem, "torch.ones(1)"))) == ""
    small = sem.module.body[-1].body[1]
    assert sem.structure.indentation(small) is None  # `y = ...` after `x = 1;` on the same line
    assert sem.structure.prediction_of(_call(sem, "model(x)")) is None


# --- ranks ------------------------------------------------------------------------------------

def _ranks(text: str) -> dict[str, object]:
    sem = semantics(text)
    found = {}
    for site in sem.info.calls:
        if site.qualified == "builtins.print":
            for _, args, _ in sem.observed(site.node):
                found[cst.Module(body=[]).code_for_node(site.node.args[0].value)] = rank(args[0])
    return found


def test_ranks_from_construction_reshapes_and_indexing() -> None:
    found = _ranks(
        """
        import torch
        import torch.nn as nn
        x = torch.randn(8, 10)
        maps = torch.zeros((2, 3, 32, 32))
        print(x)
        print(maps)
        print(torch.tensor([[1.0, 2.0]]))
        print(x.view(2, -1, 5))
        print(maps.flatten(1))
        print(nn.Flatten()(maps))
        print(x[:, -1])
        print(x[None])
        print(x.unsqueeze(0).relu() * 2)
        print(nn.Linear(10, 4)(x))
        print(x @ x.T)
        print(x.sum(1))
        print(x[[0, 1]])
        """
    )
    assert found == {
        "x": 2, "maps": 4, "torch.tensor([[1.0, 2.0]])": 2, "x.view(2, -1, 5)": 3, "maps.flatten(1)": 2,
        "nn.Flatten()(maps)": 2, "x[:, -1]": 1, "x[None]": 3, "x.unsqueeze(0).relu() * 2": 3,
        "nn.Linear(10, 4)(x)": 2, "x @ x.T": None, "x.sum(1)": None, "x[[0, 1]]": None,
    }


def test_softmax_implicit_dim_is_pytorchs_rule() -> None:
    assert [softmax_implicit_dim(r) for r in range(5)] == [0, 0, 1, 0, 1]


# --- outputs ----------------------------------------------------------------------------------

_MODELS = """
import torch.nn as nn
import torch.nn.functional as F

model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
criterion = nn.CrossEntropyLoss()
for x, y in loader:
    out = model(x)
    criterion(out, y).backward()
"""


def _origin(sem):
    [(application, origin)] = loss_inputs(sem, ("cross_entropy",), ("softmax",))
    return application, origin


def test_a_model_output_used_by_its_loss_only_can_lose_its_softmax() -> None:
    sem = semantics(_MODELS)
    application, origin = _origin(sem)
    assert outputs.consumers(sem, origin, ("cross_entropy",)) == [application.node]
    removal = outputs.removal(sem, origin.tensor)
    assert cst.Module(body=[]).code_for_node(removal.node.value) == "nn.Softmax(dim=1)"
    assert removal.previous is not None  # deleted from the end of the Linear


def test_other_uses_or_an_escape_keep_it() -> None:
    for extra in ("    accuracy = out.argmax(1)\n", "trainer.fit(model)\n", "    criterion2 = F.nll_loss(out, y)\n"):
        sem = semantics(_MODELS + extra)
        _, origin = _origin(sem)
        assert outputs.consumers(sem, origin, ("cross_entropy",)) is None, extra


def test_inline_activation_and_its_input() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        head = nn.Linear(4, 3)
        for x, y in loader:
            F.cross_entropy(torch.log(F.softmax(head(x), dim=1)), y).backward()
        """
    )
    [(application, origin)] = loss_inputs(sem, ("cross_entropy",), ("log_softmax",))
    assert outputs.inline_in(sem, origin, application.node)
    assert cst.Module(body=[]).code_for_node(outputs.activation_input(origin.tensor)) == "head(x)"


# --- loops ------------------------------------------------------------------------------------

def test_trained_after_sees_the_next_epoch() -> None:
    sem = semantics(
        """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
        for epoch in range(3):
            for x, y in loader:
                F.cross_entropy(model(x), y).backward()
            with torch.no_grad():
                val = model(val_x)
        with torch.no_grad():
            test = model(test_x)
        """
    )
    assert trained_after(sem, _call(sem, "model(val_x)"))
    assert not trained_after(sem, _call(sem, "model(test_x)"))


def test_no_removal_for_a_layer_applied_through_a_container_it_is_not_written_in() -> None:
    sem = semantics(
        """
        import torch.nn as nn
        layers = [nn.Linear(4, 3), nn.Softmax(dim=1)]
        model = nn.Sequential(*layers)
        criterion = nn.CrossEntropyLoss()
        for x, y in loader:
            criterion(model(x), y).backward()
        """
    )
    _, origin = _origin(sem)
    assert origin.tensor.kind == "module"
    assert outputs.removal(sem, origin.tensor) is None  # never `model(x)` -> `x`
