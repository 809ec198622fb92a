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


SIGLIP = """
import torch.nn as nn

class SiglipMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.activation_fn = nn.GELU()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden_states):
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class SiglipPoolingHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads, batch_first=True)
        self.mlp = SiglipMLP(config)

    def forward(self, probe, hidden_state):
        return self.mlp(self.attention(probe, hidden_state, hidden_state)[0])
"""

MODULAR = """
from torch.nn import init
from transformers import PreTrainedModel
from transformers.models.siglip.modeling_siglip import SiglipMLP, SiglipPoolingHead

class VisionMLP(SiglipMLP):
    pass

class VisionPoolingHead(SiglipPoolingHead):
    def forward(self, probe, hidden_state, mask):
        return self.mlp(self.attention(probe, hidden_state, hidden_state, key_padding_mask=mask)[0])

class VisionPreTrainedModel(PreTrainedModel):
    def _init_weights(self, module):
        if isinstance(module, VisionMLP):
            init.normal_(module.fc1.weight)
            init.normal_(module.fc2.weight)
        elif isinstance(module, VisionPoolingHead):
            init.normal_(module.attention.in_proj_weight)
"""


def test_a_class_guarded_init_of_a_class_whose_layers_are_defined_in_another_file() -> None:
    files = {"transformers/models/siglip/modeling_siglip.py": SIGLIP, "modular_vision.py": MODULAR}
    # fc1 is hidden, fc2 ends the MLP; the pooling head's attention (built by its base) projects q/k/v
    assert _codes(files) == [("modular_vision.py", 16, "DL102"), ("modular_vision.py", 19, "DL102")]
    assert _codes({"modular_vision.py": MODULAR}) == []
