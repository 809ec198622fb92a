"""``sem.contrasts``: purely linear networks a notebook contrasts with their repair."""

from __future__ import annotations

import textwrap

import libcst as cst

from dllint.notebooks import cells_source
from dllint.semantics import FileSemantics
from dllint.sources import Source

SETUP = """
import torch
from torch import nn

D, H, C = 2, 100, 3
"""
LINEAR = "linear = nn.Sequential(nn.Linear(D, H), nn.Linear(H, C))\n"


def semantics(*cells: str, notebook: bool = True) -> FileSemantics:
    texts = [textwrap.dedent(cell) for cell in (SETUP, *cells)]
    source = cells_source("demo.ipynb", texts) if notebook else Source("demo.py", "\n".join(texts))
    return FileSemantics(cst.parse_module(source.text), source)


def second_linear(sem: FileSemantics) -> cst.Call:
    return [site.node for site in sem.calls_to("torch.nn.Linear")][1]


def test_a_linear_network_next_to_its_repair_is_contrasted() -> None:
    sem = semantics(LINEAR, "repaired = nn.Sequential(nn.Linear(D, H), nn.Tanh(), nn.Linear(H, C))\n")
    assert sem.contrasts.contrasted(second_linear(sem))


def test_a_deeper_repair_counts_but_a_shallower_one_does_not() -> None:
    deeper = "repaired = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, C))\n"
    sem = semantics(LINEAR, deeper)
    assert sem.contrasts.contrasted(second_linear(sem))
    three = "linear = nn.Sequential(nn.Linear(D, H), nn.Linear(H, H), nn.Linear(H, C))\n"
    sem = semantics(three, "repaired = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C))\n")
    assert not sem.contrasts.contrasted(second_linear(sem))


def test_other_widths_or_a_partly_linear_repair_are_no_contrast() -> None:
    sem = semantics(LINEAR, "other = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, 1))\n")
    assert not sem.contrasts.contrasted(second_linear(sem))
    partly = "other = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, H), nn.Linear(H, C))\n"
    sem = semantics(LINEAR, partly)
    assert not sem.contrasts.contrasted(second_linear(sem))


def test_scripts_are_not_covered() -> None:
    sem = semantics(LINEAR, "repaired = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C))\n", notebook=False)
    assert not sem.contrasts.contrasted(second_linear(sem))


def test_an_activation_commented_out_between_the_layers() -> None:
    sem = semantics("""
        net = nn.Sequential(
            nn.Linear(D, H),
            # nn.ReLU(),
            nn.Linear(H, C),
        )
    """)
    assert sem.contrasts.contrasted(second_linear(sem))
    sem = semantics("""
        net = nn.Sequential(
            nn.Linear(D, H),
            # nn.Dropout(0.5),
            # nn.ReLU(),
            nn.Linear(H, C),
        )
    """)
    assert not sem.contrasts.contrasted(second_linear(sem))
    sem = semantics("""
        net = nn.Sequential(
            nn.Linear(D, H),
            nn.Linear(H, C),
        )
        # nn.ReLU(),
    """)
    assert not sem.contrasts.contrasted(second_linear(sem))
