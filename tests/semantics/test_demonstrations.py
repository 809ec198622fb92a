"""``sem.demonstrations``: which networks a notebook trains and which it only demonstrates."""

from __future__ import annotations

import textwrap

import libcst as cst

from dllint.notebooks import cells_source
from dllint.semantics import FileSemantics
from dllint.sources import Source

BUILD = """
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))


class Wide(Block):
    pass


net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
"""


def notebook(*cells: str) -> FileSemantics:
    source = cells_source("demo.ipynb", [textwrap.dedent(cell) for cell in (BUILD, *cells)])
    return FileSemantics(cst.parse_module(source.text), source)


def sequential(sem: FileSemantics) -> cst.Call:
    return next(site.node for site in sem.calls_to("torch.nn.Sequential"))


def block_layer(sem: FileSemantics) -> cst.Call:
    return next(site.node for site in sem.calls_to("torch.nn.Conv2d"))


def only_shown(sem: FileSemantics, node: cst.CSTNode) -> bool:
    return sem.demonstrations.only_demonstrated(node)


def layer_of_sequential(sem: FileSemantics) -> cst.Call:
    return next(site.node for site in sem.calls_to("torch.nn.Linear"))


def test_forwarded_printed_and_initialised_networks_are_only_demonstrated() -> None:
    sem = notebook("""
        print(net, net[0].weight.shape, id(net[0]))
        net.apply(lambda m: None)
        for name, p in net.named_parameters():
            nn.init.normal_(p, std=0.01)
        y = net(torch.rand(2, 4)).sum()
        y.backward()  # once, to look at the gradients
        print(net[0].weight.grad, net.state_dict())
        Block()(torch.rand(1, 3, 8, 8))
    """)
    assert only_shown(sem, layer_of_sequential(sem))
    assert only_shown(sem, block_layer(sem))


def test_an_optimizer_trains_the_network_and_what_holds_it() -> None:
    sem = notebook("""
        model = nn.Sequential(net, nn.ReLU())
        opt = torch.optim.SGD(model[0][1].parameters(), lr=0.1)
        Block()(torch.rand(1, 3, 8, 8))
    """)
    assert not only_shown(sem, layer_of_sequential(sem))  # the first Linear too: its network is trained
    assert only_shown(sem, block_layer(sem))


def test_a_subclass_trained_trains_the_base_class() -> None:
    sem = notebook("""
        wide = Wide()
        torch.optim.Adam(wide.parameters())
    """)
    assert not only_shown(sem, block_layer(sem))  # the code of Block, which Wide runs


def test_a_backward_in_a_loop_or_before_a_step_trains() -> None:
    looped = notebook("""
        for _ in range(3):
            net(torch.rand(2, 4)).sum().backward()
    """)
    stepped = notebook("""
        net(torch.rand(2, 4)).sum().backward()
        optimizer.step()
    """)
    assert not only_shown(looped, layer_of_sequential(looped))
    assert not only_shown(stepped, layer_of_sequential(stepped))


def test_handed_to_code_dllint_cannot_see_trains() -> None:
    for cell in (
        "d2l.train_ch5(net, train_iter, test_iter, 5, 0.9)",  # a helper of another module
        "trainer.fit(Block())",  # a method of an unknown object
        "Block().fit(data)",  # a method the class does not define here
        "torch.save(net.state_dict(), 'net.pth')",
        "torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)",
    ):
        sem = notebook("import d2l\n" + cell)
        node = block_layer(sem) if "Block" in cell else layer_of_sequential(sem)
        assert not only_shown(sem, node), cell


def test_a_function_too_deep_to_follow_may_train() -> None:
    sem = notebook("""
        def f5(m):
            return m
        def f4(m):
            return f5(m)
        def f3(m):
            return f4(m)
        def f2(m):
            return f3(m)
        def f1(m):
            return f2(m)
        f1(net)
    """)
    assert not only_shown(sem, layer_of_sequential(sem))


def test_a_factory_handed_out_may_be_trained() -> None:
    sem = notebook("""
        def make():
            return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        import d2l
        d2l.train(make)
    """)
    made = [site.node for site in sem.calls_to("torch.nn.Conv2d")][1]
    assert not only_shown(sem, made)


def test_a_class_never_built_is_not_a_demonstration() -> None:
    sem = notebook("print(1)")  # (maybe a notebook still being written)
    assert not only_shown(sem, block_layer(sem))


def test_saving_something_unknown_gives_up() -> None:
    sem = notebook("""
        state = make_state()
        torch.save(state, 'x.pth')
    """)
    assert not sem.demonstrations.applies
    assert not only_shown(sem, layer_of_sequential(sem))


def test_scripts_and_exported_notebooks_are_not_judged() -> None:
    text = textwrap.dedent(BUILD)
    script = FileSemantics(cst.parse_module(text), Source("demo.py", text))
    assert not script.demonstrations.applies
    exported = notebook("#| export\nclass Other(nn.Module):\n    pass\n")
    assert not exported.demonstrations.applies
    assert not only_shown(exported, layer_of_sequential(exported))
