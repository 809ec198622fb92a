"""An init function applied to models of other files: its writes reach their hidden layers."""

from __future__ import annotations

from tests.helpers import lint_files

INIT = """
import torch.nn as nn

def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight)
        nn.init.zeros_(m.bias)
"""

DEEP = """
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))
"""

SHALLOW = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x)
"""

TRAIN = """
import torch
from models import Net
from utils import init_weights

model = Net()
model.apply(init_weights)
"""

TRAIN_WITH_OWN_INIT = """
import torch
import torch.nn as nn
from models import Net

def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.normal_(m.weight)

model = Net()
model.apply(init_weights)
"""


def _codes(files):
    return sorted((f.filename, f.location.row, f.code) for f in lint_files(files, ("DL102",)))


def test_an_init_function_applied_in_another_file_to_a_model_with_hidden_layers() -> None:
    assert _codes({"utils.py": INIT, "models.py": DEEP, "train.py": TRAIN}) == [("utils.py", 6, "DL102")]


def test_quiet_when_every_model_it_reaches_has_only_an_output_layer_or_none_is_known() -> None:
    assert _codes({"utils.py": INIT, "models.py": SHALLOW, "train.py": TRAIN}) == []
    assert _codes({"utils.py": INIT}) == []
    assert _codes({"utils.py": INIT, "train.py": TRAIN}) == []


def test_an_init_function_of_this_file_applied_to_an_imported_model() -> None:
    assert _codes({"models.py": DEEP, "train.py": TRAIN_WITH_OWN_INIT}) == [("train.py", 8, "DL102")]
    assert _codes({"models.py": SHALLOW, "train.py": TRAIN_WITH_OWN_INIT}) == []
