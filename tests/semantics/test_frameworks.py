"""Training loops that frameworks run for the user (``semantics/frameworks.py``): Lightning,
Fabric, Accelerate, the Hugging Face Trainer, DeepSpeed and FSDP, as events of the traces."""

from __future__ import annotations

import json

import libcst as cst

from dllint.semantics import Instance
from dllint.semantics.frameworks import automatic_optimization, class_traits, eval_hook
from dllint.semantics.loops import ancestors
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


GRU_NET = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(16, 32, batch_first=True)
        self.fc = nn.Linear(32, 2)

    def forward(self, x):
        return self.fc(self.gru(x)[0][:, -1])
"""


def test_accelerate_and_fabric_hand_back_what_they_prepare_and_backward_the_loss() -> None:
    sem = semantics(GRU_NET + """
from accelerate import Accelerator
import lightning as L


def accelerate(loader):
    accelerator = Accelerator()
    model = GRUNet()
    optimizer = torch.optim.Adam(model.parameters())
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    for x, y in loader:
        with accelerator.accumulate(model):
            accelerator.backward(F.cross_entropy(model(x), y))
            optimizer.step()
            optimizer.zero_grad()


def fabric(loader):
    fabric = L.Fabric()
    model, optimizer = fabric.setup(GRUNet(), torch.optim.SGD([torch.zeros(1)], lr=0.1))
    for x, y in loader:
        fabric.backward(F.cross_entropy(model(x), y))
        optimizer.step()
""")
    for root in ("accelerate", "fabric"):
        [first, *_] = [s for s in sem.training_steps if s.trace.root.name == root]
        assert first.step is not None and first.driver is None and not first.clipped
        models = {tensor.target.qualified for tensor in ancestors(first.backward.target) if tensor.kind == "module"}
        assert "torch.nn.GRU" in models  # the prepared model is the model: its forward is followed
        assert _code(first.backward.node).startswith(("accelerator.backward", "fabric.backward"))
    gated = [e for e in _events(sem, "accelerate") if e.kind in ("step", "zero_grad")]
    assert gated and all(e.conditional for e in gated)  # on accumulation boundaries only
    assert not any(e.conditional for e in _events(sem, "accelerate") if e.kind in ("backward", "forward"))
    forwards = [e for e in _events(sem, "accelerate") if e.kind == "forward"]
    assert forwards and all(isinstance(e.target, Instance) and e.target.cls is not None for e in forwards)


def test_hugging_face_trainer_trains_in_train_mode_clips_at_max_grad_norm_and_evaluates_in_eval_mode() -> None:
    sem = semantics(GRU_NET + """
from transformers import Trainer, TrainingArguments


class WeightedTrainer(Trainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        return F.cross_entropy(model(inputs["x"]), inputs["labels"], weight=torch.tensor([1.0, 2.0]))

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return None, model(inputs["x"]), None


def run(dataset):
    trainer = Trainer(model=GRUNet(), args=TrainingArguments(output_dir="o", max_grad_norm=0.0), train_dataset=dataset)
    trainer.train()
    trainer.evaluate()


def defaults(dataset):
    WeightedTrainer(model=GRUNet(), train_dataset=dataset).train()
""")
    events = _events(sem, "run")
    kinds = [e.kind for e in events if e.kind != "recurrent"]
    assert kinds == ["train", "forward", "backward", "step", "zero_grad"] * 2 + ["eval", "forward"]
    [step, _] = [e for e in events if e.kind == "step"]
    assert _code(step.node) == 'TrainingArguments(output_dir="o", max_grad_norm=0.0)'
    assert step.driver.clips is False and step.driver.setting == "`max_grad_norm=0.0`"
    assert step.target.qualified == "torch.optim.AdamW"  # over the model's parameters
    forwards = [e for e in _events(sem, "run") if e.kind == "forward"]
    assert [e.mode for e in forwards] == ["train", "train", "eval"] and forwards[-1].no_grad
    # a subclass's compute_loss computes the loss; TrainingArguments' defaults clip at 1.0
    [subclass_step, _] = [e for e in _events(sem, "defaults") if e.kind == "step"]
    assert subclass_step.driver.clips is True
    assert any(e.kind == "forward" and e.stack[-1].name == "compute_loss" for e in _events(sem, "defaults"))
    # the model a prediction_step receives is in eval mode
    trainer = cls(sem, "WeightedTrainer")
    assert eval_hook(sem, trainer.methods["prediction_step"]) == "transformers"
    [predicted] = [e for e in _events(sem, "prediction_step") if e.kind == "forward"]
    assert predicted.mode == "eval"


def test_deepspeed_engine_is_the_model_and_clips_at_the_configs_gradient_clipping(tmp_path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "ds.json").write_text(json.dumps({"train_batch_size": 8, "gradient_clipping": 1.0}))
    (tmp_path / "noclip.json").write_text(json.dumps({"train_batch_size": 8}))
    (tmp_path / "scripts").mkdir()
    source = GRU_NET + """
import deepspeed


def train(loader, config):
    model = GRUNet()
    engine, optimizer, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
    for x, y in loader:
        engine.backward(F.cross_entropy(engine(x), y))
        engine.step()


train(loader, {"train_batch_size": 8})
engine = deepspeed.initialize(model=GRUNet(), config={"gradient_clipping": 0.5})[0]
for x, y in loader:
    engine.backward(F.cross_entropy(engine(x), y))
    engine.step()
train(loader, "configs/ds.json")
train(loader, "noclip.json")
train(loader, "missing.json")
"""
    from dllint.semantics import FileSemantics
    from dllint.sources import Source

    sem = FileSemantics(cst.parse_module(source), Source(str(tmp_path / "scripts" / "train.py"), source))
    steps = [s for s in sem.training_steps if s.trace.root is None and s.step is not None]
    drivers = []
    for step in steps:
        if step.driver not in drivers:
            drivers.append(step.driver)
        assert _code(step.backward.node).startswith("engine.backward")
        assert any(t.kind == "module" and getattr(t.target, "qualified", "") == "torch.nn.GRU" for t in ancestors(step.backward.target))
    assert [(d.clips, d.setting) for d in drivers] == [
        (False, "its config sets no `gradient_clipping`"),
        (True, "its config sets `gradient_clipping` to 0.5"),
        (True, "its config sets `gradient_clipping` to 1.0"),  # found in a folder above the script
        (False, "its config sets no `gradient_clipping`"),
        (None, "its config sets no `gradient_clipping`"),
    ]
    assert all(d.clears for d in drivers)


def test_fsdp_returns_the_model_it_wraps() -> None:
    sem = semantics(GRU_NET + """
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

model = FSDP(GRUNet())
optimizer = torch.optim.Adam(model.parameters())
for x, y in loader:
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    model.clip_grad_norm_(1.0)
    optimizer.step()
""")
    [first, *_] = [s for s in sem.training_steps if s.step is not None]
    assert first.clipped
    [forward, *_] = [e for e in _events(sem) if e.kind == "forward"]
    assert isinstance(forward.target, Instance) and forward.target.cls is not None
