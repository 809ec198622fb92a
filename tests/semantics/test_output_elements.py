"""What each element of a model's container output is (``FileSemantics.class_output_fields``),
and how an element read off a model of another file is deferred with its key."""

from __future__ import annotations

from dllint.semantics.losses import origin
from tests.semantics.helpers import cls, semantics

MODELS = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from dataclasses import dataclass
from typing import NamedTuple
from transformers.modeling_outputs import TokenClassifierOutput


class Pair(NamedTuple):
    logits: torch.Tensor
    probs: torch.Tensor


@dataclass
class Heads:
    scores: torch.Tensor
    log_probs: torch.Tensor


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)


class DictNet(Base):
    def forward(self, x):
        logits = self.fc(x)
        return {"logits": logits, "probs": torch.sigmoid(logits), "features": x}


class TupleNet(Base):
    def forward(self, x):
        logits = self.fc(x)
        return F.softmax(logits, dim=-1), logits


class PairNet(Base):
    def forward(self, x):
        logits = self.fc(x)
        return Pair(logits, logits.sigmoid())


class HeadsNet(Base):
    def forward(self, x):
        logits = self.fc(x)
        return Heads(scores=logits, log_probs=F.log_softmax(logits, dim=-1))


class HfNet(Base):
    def forward(self, x):
        return TokenClassifierOutput(logits=self.fc(x))


class TensorNet(Base):
    def forward(self, x):
        return torch.sigmoid(self.fc(x))


class BranchNet(Base):
    def forward(self, x):
        logits = self.fc(x)
        if self.training:
            return {"out": logits}
        return {"out": torch.sigmoid(logits)}
"""


def test_elements_of_container_outputs() -> None:
    sem = semantics(MODELS)
    assert sem.class_output_fields(cls(sem, "DictNet")) == {"logits": "logits", "probs": "sigmoid"}
    assert sem.class_output_fields(cls(sem, "TupleNet")) == {
        "[0]": "softmax", "[1]": "logits", "[-2]": "softmax", "[-1]": "logits",
    }
    assert sem.class_output_fields(cls(sem, "PairNet")) == {
        "logits": "logits", "probs": "sigmoid", "[0]": "logits", "[1]": "sigmoid",
    }
    assert sem.class_output_fields(cls(sem, "HeadsNet")) == {"scores": "logits", "log_probs": "log_softmax"}
    assert sem.class_output_fields(cls(sem, "HfNet")) == {"logits": "logits"}
    assert sem.class_output_fields(cls(sem, "TensorNet")) is None
    assert sem.class_output_fields(cls(sem, "BranchNet")) == {}  # the paths disagree


def test_the_summary_carries_them() -> None:
    summary = semantics(MODELS, "models.py").summary
    assert summary.classes["models.DictNet"].fields == {"logits": "logits", "probs": "sigmoid"}
    assert summary.classes["models.TensorNet"].fields is None


def test_an_element_of_an_output_of_another_file_is_deferred_with_its_key() -> None:
    sem = semantics(
        """
        import torch.nn.functional as F
        from models import DictNet

        model = DictNet()
        out = model(x)
        a = F.binary_cross_entropy(out["probs"], y)
        first, second = model(x)
        b = F.binary_cross_entropy(second, y)
        c = F.binary_cross_entropy(model(x).probs.view(-1), y)
        d = F.binary_cross_entropy(model(x)[:, 0], y)
        """,
        "train.py",
    )
    keys = [(origin(sem, app.prediction).deferred, origin(sem, app.prediction).key) for app in sem.loss_applications]
    assert keys == [(("models.DictNet",), "probs"), (("models.DictNet",), "[1]"),
                    (("models.DictNet",), "probs"), (("models.DictNet",), "?")]


def test_a_model_built_from_loaded_weights_is_no_output_record() -> None:
    sem = semantics(
        """
        import numpy as np
        import torch
        from models import TextCNN, Detection

        vectors = torch.from_numpy(np.load("glove.npy"))
        model = TextCNN(embeddings=vectors, num_classes=2)
        model.eval()
        scores = model(batch)
        found = Detection(boxes=scores, labels=None)
        loss = torch.nn.functional.binary_cross_entropy(found.boxes, targets)
        """,
        "predict.py",
    )
    evaluated = [event.target for trace in sem.traces for event in trace.events if event.kind == "eval"]
    assert [type(value).__name__ for value in evaluated] == ["Instance"]  # the model, not a record
    (application,) = sem.loss_applications  # ``Detection`` built from what the model computed: a record
    seen = origin(sem, application.prediction)
    assert (seen.deferred, seen.key) == (("models.TextCNN",), None)
