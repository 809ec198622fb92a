"""Framework-run training with the module in one file and the Trainer in another: the report
goes where the Trainer is built, and the project index decides it."""

from __future__ import annotations

from tests.helpers import lint_files

TRAIN = """
import lightning as L
from models import LitTagger


def main(loader):
    trainer = L.Trainer(max_epochs=10)
    trainer.fit(LitTagger(), loader)
"""

MODULE = """
import lightning as L
import torch
import torch.nn as nn


class LitTagger(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(32, 32, batch_first=True)
        self.head = nn.Linear(32, 5)
{extra}
    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.gru(x)[0]).transpose(1, 2), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters())
"""

CLIPS = """
    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.clip_gradients(optimizer, gradient_clip_val=1.0)
"""

MANUAL = """
    @property
    def automatic_optimization(self):
        return False
"""


def _findings(module: str) -> list[tuple[str, int, str]]:
    return sorted((f.filename, f.location.row, f.code) for f in lint_files({"models.py": module, "train.py": TRAIN}, ["DL501"]))


def test_recurrent_module_of_another_file_is_reported_at_the_trainer() -> None:
    [finding] = lint_files({"models.py": MODULE.format(extra=""), "train.py": TRAIN}, ["DL501"])
    assert (finding.filename, finding.location.row) == ("train.py", 7)
    assert "`LitTagger.training_step`" in finding.message and "gradient_clip_val=1.0" in finding.message


def test_module_that_clips_or_optimises_manually_is_not_reported() -> None:
    assert _findings(MODULE.format(extra=CLIPS)) == []
    assert _findings(MODULE.format(extra=MANUAL)) == []


def test_module_without_recurrent_layers_or_unknown_to_the_run_is_not_reported() -> None:
    plain = MODULE.format(extra="").replace("nn.GRU(32, 32, batch_first=True)", "nn.Linear(32, 32)").replace(
        "self.gru(x)[0]", "self.gru(x)"
    )
    assert _findings(plain) == []
    assert sorted(f.code for f in lint_files({"train.py": TRAIN}, ["DL501"])) == []


def test_module_deriving_from_an_unknown_base_is_not_reported() -> None:
    derived = MODULE.format(extra="").replace("(L.LightningModule)", "(BaseTagger)").replace(
        "import lightning as L\n", "import lightning as L\nfrom lib import BaseTagger\n", 1
    )
    assert _findings(derived) == []
