"""Lightning and Hugging Face callbacks: run for real when the framework is installed, skip
cleanly when not (neither is a dependency of dllint)."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from probe_models import SigmoidMLP, Teacher


def test_lightning_callback(tmp_path):
    L = pytest.importorskip("lightning.pytorch")
    from dllint.probe.lightning import ProbeCallback

    data = Teacher((32,))
    xs, ys = data.batch(96)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = SigmoidMLP()

        def training_step(self, batch, idx):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), 0.1)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xs, ys), batch_size=16)
    cb = ProbeCallback(every=2, json_path=str(tmp_path / "probe.json"), print_report=False)
    trainer = L.Trainer(max_steps=6, callbacks=[cb], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        default_root_dir=str(tmp_path))
    trainer.fit(Module(), loader)
    r = cb.report
    assert r.summary["steps"] == 6 and r.summary["checks"] == 3  # optimizer steps, closures and all
    (f,) = r.by_code("DLP001")
    assert f.module == "net.body.0"
    assert (tmp_path / "probe.json").exists()
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in trainer.lightning_module.modules()) == 0


def test_hf_trainer_callback(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from dllint.probe.hf import ProbeCallback

    data = Teacher((32,))
    xs, ys = data.batch(96)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = SigmoidMLP()

        def forward(self, x=None, labels=None):
            logits = self.net(x)
            return {"loss": F.cross_entropy(logits, labels), "logits": logits}

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return len(xs)

        def __getitem__(self, i):
            return {"x": xs[i], "labels": ys[i]}

    args = transformers.TrainingArguments(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=16,
                                          learning_rate=1e-3, report_to=[], save_strategy="no",
                                          logging_strategy="no", use_cpu=True, disable_tqdm=True)
    cb = ProbeCallback(every=2, print_report=False)
    model = Model()
    trainer = transformers.Trainer(model=model, args=args, train_dataset=DS(), callbacks=[cb])
    trainer.train()
    r = cb.report
    assert r.summary["steps"] == 6 and r.summary["checks"] == 3
    assert r.by_code("DLP001")[0].module == "net.body.0"
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
