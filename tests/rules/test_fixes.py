"""Fixes of fixable rules, applied to the text: the result is the code we would write by hand."""

from __future__ import annotations

import textwrap

import pytest

from dllint.fixes import apply_fixes
from tests.helpers import lint_text

CASES = [
    (
        "nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))",
        "nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))",
    ),
    (
        "nn.Sequential(nn.Conv2d(3, 8, 3, bias=True), nn.BatchNorm2d(8))",
        "nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))",
    ),
    (
        "nn.Sequential(nn.Linear(4, 4, True), nn.BatchNorm1d(4))",
        "nn.Sequential(nn.Linear(4, 4, False), nn.BatchNorm1d(4))",
    ),
    (
        """\
        nn.Sequential(
            nn.Conv2d(
                3,
                8,
                3,
            ),
            nn.BatchNorm2d(8),
        )""",
        """\
        nn.Sequential(
            nn.Conv2d(
                3,
                8,
                3,
                bias=False,
            ),
            nn.BatchNorm2d(8),
        )""",
    ),
]


@pytest.mark.parametrize("before, after", CASES)
def test_bias_before_batchnorm_fix(before: str, after: str) -> None:
    source = "import torch.nn as nn\nblock = " + textwrap.dedent(before) + "\n"
    findings = lint_text(source, ["DL301"])
    assert len(findings) == 1 and findings[0].fix is not None
    fixed, _ = apply_fixes(source, [findings[0].fix])
    assert fixed == "import torch.nn as nn\nblock = " + textwrap.dedent(after) + "\n"
    assert lint_text(fixed, ["DL301"]) == []


def test_no_fix_when_keyword_arguments_are_unpacked() -> None:
    source = "import torch.nn as nn\nblock = nn.Sequential(nn.Conv2d(3, 8, 3, **kw), nn.BatchNorm2d(8))\n"
    assert lint_text(source, ["DL301"]) == []  # bias may be in **kw: not even a finding


def test_no_fix_for_a_line_shared_by_configurations_it_does_not_hold_for() -> None:
    source = textwrap.dedent(
        """\
        import torch.nn as nn

        def block(cin, cout, normalize=True):
            layers = [nn.Conv2d(cin, cout, 3, padding=1)]
            if normalize:
                layers.append(nn.BatchNorm2d(cout))
            return layers + [nn.ReLU()]

        net = nn.Sequential(*block(3, 8, normalize=False), *block(8, 16))
        """
    )
    findings = lint_text(source, ["DL301"])
    assert len(findings) == 1 and findings[0].fix is None
    assert "when built by `block(8, 16)` (line 9)" in findings[0].message


def test_fix_for_a_line_every_configuration_flags() -> None:
    source = textwrap.dedent(
        """\
        import torch.nn as nn

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        net = nn.Sequential(*block(3, 8), *block(8, 16))
        """
    )
    findings = lint_text(source, ["DL301"])
    assert len(findings) == 1 and findings[0].fix is not None


def test_no_fix_when_a_command_line_default_decides_the_structure() -> None:
    source = textwrap.dedent(
        """\
        import argparse
        import torch.nn as nn

        parser = argparse.ArgumentParser()
        parser.add_argument("--no-bn", action="store_true")
        args = parser.parse_args()

        layers = [nn.Conv2d(3, 16, 3, padding=1)]
        if not args.no_bn:
            layers.append(nn.BatchNorm2d(16))
        net = nn.Sequential(*layers, nn.ReLU())
        """
    )
    findings = lint_text(source, ["DL301"])
    assert len(findings) == 1 and findings[0].fix is None
    assert "when `--no-bn` is off (the default), which a run can change: no automatic fix" in findings[0].message


def test_fix_when_the_structure_does_not_depend_on_the_default() -> None:
    source = textwrap.dedent(
        """\
        import argparse
        import torch.nn as nn

        parser = argparse.ArgumentParser()
        parser.add_argument("--channels", type=int, default=16)
        args = parser.parse_args()

        net = nn.Sequential(nn.Conv2d(3, args.channels, 3, padding=1), nn.BatchNorm2d(args.channels), nn.ReLU())
        """
    )
    findings = lint_text(source, ["DL301"])
    assert len(findings) == 1 and findings[0].fix is not None


def test_bias_fix_is_unsafe_when_code_writes_the_bias_unchecked() -> None:
    source = textwrap.dedent(
        """\
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        m.bias.data.zero_()

            def forward(self, x):
                return self.body(x)
        """
    )
    (finding,) = lint_text(source, ["DL301"])
    assert finding.fix is not None and finding.fix.applicability == "unsafe"
    guarded = source.replace("m.bias.data.zero_()", "if m.bias is not None:\n                    m.bias.data.zero_()")
    (finding,) = lint_text(guarded, ["DL301"])
    assert finding.fix is not None and finding.fix.applicability == "safe"


def test_bias_fix_is_unsafe_when_the_model_goes_to_a_helper_of_another_file() -> None:
    source = textwrap.dedent(
        """\
        import torch.nn as nn
        import utils

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
                utils.initialize_weights(self)

            def forward(self, x):
                return self.body(x)
        """
    )
    (finding,) = lint_text(source, ["DL301"])
    assert finding.fix is not None and finding.fix.applicability == "unsafe"
