"""Facts that cross files: a model class defined in one file and trained in another."""

from __future__ import annotations

from tests.helpers import lint_files

TRAIN = """
import torch
from models import Net

def train(loader):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

@torch.no_grad()
def predict(x):
    model = Net()
    return model(x)
"""

RECURRENT = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 8, dropout=0.2, num_layers=2)

    def forward(self, x):
        return self.rnn(x)[0]
"""

PLAIN = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return self.fc(x)
"""

INHERITED = """
import torch.nn as nn
from base import Backbone

class Net(Backbone):
    def forward(self, x):
        return self.encoder(x)
"""

BASE = """
import torch.nn as nn

class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.LSTM(8, 8)
"""


def _codes(files, codes=("DL501", "DL502")):
    return sorted((f.filename, f.location.row, f.code) for f in lint_files(files, codes))


def test_recurrent_model_from_another_file_needs_clipping_and_eval() -> None:
    findings = _codes({"models.py": RECURRENT, "train.py": TRAIN})
    assert findings == [("train.py", 12, "DL501"), ("train.py", 17, "DL502")]


def test_model_known_to_lack_recurrent_layers_dropout_and_batchnorm_is_quiet() -> None:
    assert _codes({"models.py": PLAIN, "train.py": TRAIN}) == []


def test_unknown_class_is_not_assumed_recurrent_but_is_assumed_to_need_eval() -> None:
    assert _codes({"train.py": TRAIN}) == [("train.py", 17, "DL502")]


def test_facts_follow_base_classes_across_files() -> None:
    findings = _codes({"base.py": BASE, "models.py": INHERITED, "train.py": TRAIN}, ("DL501",))
    assert findings == [("train.py", 12, "DL501")]


WRAPPER = """
import torch.nn as nn

class Model(nn.Module):
    def __call__(self, source, **kwargs):
        return self.predict(source, **kwargs)

class YOLO(Model):
    pass
"""

APP = """
from ultralytics import YOLO

class App:
    def __init__(self):
        self.model = YOLO("yolo.pt")

    def image_inference(self, image):
        return self.model(image, conf=0.25)
"""


def test_a_wrapper_that_overrides_call_is_not_a_forward_pass() -> None:
    assert _codes({"ultralytics/engine/model.py": WRAPPER, "app.py": APP}, ("DL502",)) == []


def test_an_imported_class_outside_the_run_is_a_model_only_when_named_like_one() -> None:
    """Without ultralytics in the run nothing says ``YOLO`` is a module (it is a predictor
    wrapper); a ``DetectionModel`` is named as one."""
    assert _codes({"app.py": APP}, ("DL502",)) == []
    named = APP.replace("YOLO", "DetectionModel")
    assert _codes({"app.py": named}, ("DL502",)) == [("app.py", 9, "DL502")]


CLASSIFIER = """
import torch
import torch.nn as nn

class RNN(nn.Module):
    def __init__(self, n_in, n_hidden, n_out):
        super().__init__()
        self.i2h = nn.Linear(n_in + n_hidden, n_hidden)
        self.i2o = nn.Linear(n_in + n_hidden, n_out)

    def forward(self, x, hidden):
        combined = torch.cat((x, hidden), 1)
        return self.i2o(combined), self.i2h(combined)
"""

SAVES = """
import torch
from model import *

rnn = RNN(57, 128, 18)
torch.save(rnn, "char-rnn.pt")
"""

LOADS = """
from model import *

rnn = torch.load("checkpoints/char-rnn.pt")

def predict(line, hidden):
    output, hidden = rnn(line, hidden)
    return output.topk(3, 1)
"""


def test_a_checkpoint_holds_the_class_the_run_saved_under_its_name() -> None:
    """``torch`` itself reaches ``predict.py`` through ``from model import *``; the model it
    loads is the dropout-free RNN ``train.py`` saved under that file name."""
    files = {"model.py": CLASSIFIER, "train.py": SAVES, "predict.py": LOADS}
    assert _codes(files, ("DL502",)) == []
    with_dropout = CLASSIFIER.replace("return self.i2o(combined)", "return self.i2o(nn.functional.dropout(combined, 0.2, self.training))")
    with_dropout = with_dropout.replace("self.i2o = nn.Linear(n_in + n_hidden, n_out)", "self.i2o = nn.Linear(n_in + n_hidden, n_out)\n        self.drop = nn.Dropout(0.2)")
    assert _codes({**files, "model.py": with_dropout}, ("DL502",)) == [("predict.py", 7, "DL502")]
    elsewhere = SAVES.replace('"char-rnn.pt"', '"other.pt"')
    assert _codes({**files, "train.py": elsewhere}, ("DL502",)) == [("predict.py", 7, "DL502")]
