"""# noqa and DL002 unused-noqa, as the engine applies them after every rule has spoken."""

from __future__ import annotations

from tests.helpers import lint_files, lint_text

SOURCE = """\
import torch.nn as nn
a = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))  # noqa: DL301
b = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))  # noqa: DL203
c = nn.Conv2d(3, 8, 3)  # noqa: DL301, F401
d = nn.Conv2d(3, 8, 3)  # noqa
e = nn.Conv2d(3, 8, 3)  # noqa: DL999
f = nn.Conv2d(3, 8, 3)  # noqa: DL505
g = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))  # noqa:DL301,DL203
s = "# noqa: DL301"
"""


def _rows(findings):
    return sorted((f.location.row, f.code, f.message) for f in findings)


def test_noqa_suppresses_its_codes_and_dl002_reports_the_rest() -> None:
    rows = _rows(lint_text(SOURCE, ["DL301", "DL203", "DL002"]))
    codes = [(row, code) for row, code, _ in rows]
    assert (2, "DL301") not in codes  # suppressed
    assert (3, "DL301") in codes  # DL203 does not silence DL301 ...
    assert (3, "DL002") in codes  # ... and suppresses nothing itself
    assert (4, "DL002") in codes  # DL301 unused there; F401 belongs to another tool
    assert (5, "DL002") not in codes  # a bare noqa is never reported
    messages = {row: message for row, code, message in rows if code == "DL002"}
    assert "`DL999` (unknown code)" in messages[6]
    assert "`DL505` (not enabled)" in messages[7]
    assert "`DL203`" in messages[8] and "DL301" not in messages[8]
    assert all(row != 9 for row, _, _ in rows)  # text inside a string is not a comment


def test_dl002_is_off_unless_selected() -> None:
    assert not [f for f in lint_text(SOURCE, ["DL301", "DL203"]) if f.code == "DL002"]


def test_file_level_disable() -> None:
    source = "# dllint: disable=DL3\nimport torch.nn as nn\na = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))\n"
    assert lint_text(source, ["DL301"]) == []


def test_a_finding_dropped_by_the_project_index_leaves_its_noqa_unused() -> None:
    models = """
    import torch.nn as nn
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
        def forward(self, x):
            return self.fc(x)
    """
    script = """
    import torch
    from models import Net
    model = Net()
    with torch.no_grad():
        model(torch.ones(1, 4))  # noqa: DL502
    """
    findings = lint_files({"models.py": models, "script.py": script}, ["DL502", "DL002"])
    assert [(f.filename, f.code) for f in findings] == [("script.py", "DL002")]
