import threading

import libcst as cst
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dllint.parsing import parse_module

SOURCE = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())

    def forward(self, x):  # comment
        return self.body(x) if x.dim() == 4 else self.body(x[None])[0]
'''


def test_the_tree_is_the_one_libcst_builds():
    tree = parse_module(SOURCE)
    assert tree.deep_equals(cst.parse_module(SOURCE))
    assert tree.code == SOURCE


def test_parse_errors_are_libcst_s():
    with pytest.raises(cst.ParserSyntaxError):
        parse_module("def f(:\n")


@pytest.mark.parametrize("text", ["def f(:\n", SOURCE])
def test_nodes_built_afterwards_are_validated_again(text):
    try:
        parse_module(text)
    except cst.ParserSyntaxError:
        pass
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not an identifier")


def test_concurrent_parses_leave_validation_on():
    barrier = threading.Barrier(4)

    def parse_many():
        barrier.wait()
        for _ in range(20):
            parse_module(SOURCE)

    threads = [threading.Thread(target=parse_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pytest.raises(cst.CSTValidationError):
        cst.Name("")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["x = 1", "y = [a for a in b]", "def f(a, *, b=2): return a", "if x:\n    pass",
                                 "class C(Base):\n    z: int = 3", "w = lambda q: q ** 2  # c", "@d\ndef g(): ..."]),
                max_size=6))
def test_same_tree_as_libcst_on_generated_modules(statements):
    text = "\n".join(statements) + "\n"
    assert parse_module(text).deep_equals(cst.parse_module(text))


def test_an_in_process_run_leaves_nothing_frozen(tmp_path):
    import gc

    from dllint.config import Settings
    from dllint.engine import lint_paths

    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(SOURCE)
    assert gc.get_freeze_count() == 0
    results = lint_paths([tmp_path / "a.py", tmp_path / "b.py"], Settings(use_cache=False), jobs=1)
    assert results is not None
    assert gc.get_freeze_count() == 0
