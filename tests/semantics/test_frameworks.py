"""Training loops that frameworks run for the user (``semantics/frameworks.py``): Lightning,
Fabric, Accelerate, the Hugging Face Trainer, DeepSpeed and FSDP, as events of the traces."""

from __future__ import annotations

import json

import libcst as cst

from dllint.semantics import Instance
from dllint.semantics.frameworks import automatic_optimization, class_traits, eval_hook
from dllint.semantics.values import Obj
from tests.semantics.helpers import cls, semantics

LIT_LSTM = """
import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F


class LitLSTM(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 8)
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.dropout(self.lstm(x)[0]))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.cross_entropy(self(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
"""


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _events(sem, root=None):
    return [
        event for trace in sem.traces if root is None or (trace.root is not None and trace.root.name == root)
        for event in trace.events
    ]


def test_lightning_fit_runs_training_step_then_backward_clipping_and_step() -> None:
    sem = semantics(LIT_LSTM + """
def main(loader):
    trainer = L.Trainer(max_epochs=3)
    trainer.fit(LitLSTM(), loader, loader)
""")
    events = _events(sem, "main")
    kinds = [event.kind for event in events if event.kind not in ("forward", "recurrent") and event.iterations[-1][1] == 0]
    assert kinds == ["train", "zero_grad", "backward", "step", "eval", "train"]
    [step, _] = [event for event in events if event.kind == "step"]  # one per iteration, two unrolled
    assert _code(step.node) == "L.Trainer(max_epochs=3)"
    assert step.driver is not None and step.driver.clips is False and step.driver.clears
    assert step.driver.hook == "`LitLSTM.training_step`"
    assert isinstance(step.target, Obj) and step.target.qualified == "torch.optim.Adam"
    [training] = [s for s in sem.training_steps if s.step is step]
    assert training.driver is step.driver and not training.clipped
    # validation_step runs in eval mode under no_grad; training_step in train mode, with the
    # Trainer's backward and step inside it
    forwards = [event for event in events if event.kind == "forward"]
    assert {(e.stack[-1].name, e.mode, e.no_grad) for e in forwards} == {
        ("training_step", "train", False), ("validation_step", "eval", True),
    }
    assert step.stack[-1].name == "training_step"


def test_lightning_trainer_clipping_settings() -> None:
    sem = semantics(LIT_LSTM + """
import argparse


class ClipsItself(LitLSTM):
    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.clip_gradients(optimizer, gradient_clip_val=0.5)


def run(loader, config):
    parser = argparse.ArgumentParser()
    parser.add_argument("--gradient-clip-val", type=float, default=0.0)
    args = parser.parse_args()
    L.Trainer(gradient_clip_val=0.5).fit(LitLSTM(), loader)
    L.Trainer(gradient_clip_val=None).fit(LitLSTM(), loader)
    L.Trainer(**config).fit(LitLSTM(), loader)
    L.Trainer(**{"max_epochs": 2}).fit(LitLSTM(), loader)
    L.Trainer(gradient_clip_val=args.gradient_clip_val).fit(LitLSTM(), loader)
    L.Trainer().fit(ClipsItself(), loader)
""")
    drivers = {}
    for event in _events(sem, "run"):
        if event.kind == "step":
            drivers.setdefault(_code(event.node), event.driver)
    assert {code: (d.clips, d.setting) for code, d in drivers.items()} == {
        "L.Trainer(gradient_clip_val=0.5)": (True, "`gradient_clip_val=0.5`"),
        "L.Trainer(gradient_clip_val=None)": (False, "`gradient_clip_val=None`"),
        "L.Trainer(**config)": (None, ""),
        'L.Trainer(**{"max_epochs": 2})': (False, "`gradient_clip_val` is not set"),
        "L.Trainer(gradient_clip_val=args.gradient_clip_val)": (
            False, "`gradient_clip_val` is the default `--gradient-clip-val 0.0`",
        ),
        "L.Trainer()": (True, ""),  # the module overrides configure_gradient_clipping
    }


def test_lightning_manual_optimisation_leaves_backward_and_step_to_the_module() -> None:
    sem = semantics("""
import pytorch_lightning as pl
import torch
import torch.nn as nn


class GAN(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False
        self.generator = nn.Linear(4, 8)
        self.discriminator = nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        self.toggle_optimizer(opt_d)
        d_loss = self.discriminator(self.generator(batch)).mean()
        self.manual_backward(d_loss)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

    def configure_optimizers(self):
        opt_g = torch.optim.Adam(self.generator.parameters())
        opt_d = torch.optim.Adam(self.discriminator.parameters())
        return [opt_g, opt_d], []


pl.Trainer().fit(GAN())
""")
    gan = cls(sem, "GAN")
    assert not automatic_optimization(sem, gan) and class_traits(sem, gan) == {"manual_optimization"}
    events = [event for event in _events(sem) if event.iterations and event.iterations[-1][1] == 0]
    kinds = [event.kind for event in events if event.kind not in ("forward", "recurrent")]
    assert kinds == ["train", "requires_grad", "backward", "step", "requires_grad"]
    step = next(event for event in events if event.kind == "step")
    assert step.driver is None and _code(step.node) == "opt_d.step()"
    # self.optimizers() is what configure_optimizers returned; toggling opt_d switches the
    # generator's gradients off, untoggling it on again
    assert step.target.qualified == "torch.optim.Adam" and _code(step.target.node) == "torch.optim.Adam(self.discriminator.parameters())"
    toggles = [event for event in events if event.kind == "requires_grad"]
    assert [t.args[0].value for t in toggles] == [False, True]
    assert all(_code(t.target.node) == "nn.Linear(4, 8)" for t in toggles)


def test_lightning_evaluation_hooks_start_in_eval_mode_under_no_grad() -> None:
    sem = semantics(LIT_LSTM + """
    def on_validation_epoch_end(self):
        self.lstm(self.example)

    def on_train_epoch_end(self):
        self.lstm(self.example)
""")
    lit = cls(sem, "LitLSTM")
    assert eval_hook(sem, lit.methods["validation_step"]) == "lightning"
    assert eval_hook(sem, lit.methods["on_validation_epoch_end"]) == "lightning"
    assert eval_hook(sem, lit.methods["on_train_epoch_end"]) is None
    assert eval_hook(sem, lit.methods["training_step"]) is None
    [forward] = [e for e in _events(sem, "validation_step") if e.kind == "forward"]
    assert forward.mode == "eval" and forward.no_grad


def test_lightning_module_of_another_file_defers_to_the_project_index() -> None:
    sem = semantics("""
import lightning as L
from models import LitLSTM

trainer = L.Trainer(max_epochs=3)
trainer.fit(LitLSTM(), loader)
""")
    [step] = [s for s in sem.training_steps if s.step is not None]
    assert isinstance(step.backward.target.target, Instance) and step.backward.target.target.qualified == "models.LitLSTM"
    assert step.driver is not None and step.driver.clips is False and step.driver.unless is not None
    assert _code(step.step.node) == "L.Trainer(max_epochs=3)"


def test_lightning_cli_fits_the_module_it_is_given() -> None:
    sem = semantics(LIT_LSTM + """
from lightning.pytorch.cli import LightningCLI


def cli_main():
    LightningCLI(LitLSTM, trainer_defaults={"gradient_clip_val": 0})


def cli_configured():
    LightningCLI(LitLSTM)
""")
    [unclipped] = {e.driver for e in _events(sem, "cli_main") if e.kind == "step"}
    assert unclipped.clips is False
    [configured] = {e.driver for e in _events(sem, "cli_configured") if e.kind == "step"}
    assert configured.clips is None  # set in a YAML config or on the command line
