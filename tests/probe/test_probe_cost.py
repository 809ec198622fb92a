"""What a probed step costs on a GPU is mostly kernel launches and Python dispatch, one per op: the
ops a step dispatches are counted (deterministic, unlike a timing), so the batched statistics of
sampled steps cannot quietly fall back to per-layer (or per-tensor) work. An unsampled step keeps
one value per loss; between far-apart checks those are folded on device, losing nothing."""

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from dllint.probe import Probe, core
from probe_models import FunctionalReluMLP, FunctionalResNet, ReluMLP, SmallResNet, Teacher


class _CountOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


# extra ops at the first sampled step (projection vectors and index tensors are made once), at a
# later sampled step, at an unsampled step. Measured when batched: ReluMLP 124 / 93 / 1,
# SmallResNet 211 / 172 / 1; per-layer statistics cost 569 / 572 / 11 and 1257 / 1255 / 11.
# Functional activations (F.relu in the blocks' / the model's forward) are watched through a
# function mode on sampled steps: one amax per ReLU call, no op on unsampled steps. Measured:
# FunctionalReluMLP 124 / 93 / 1, FunctionalResNet 204 / 165 / 1.
@pytest.mark.parametrize("make_model, in_shape, first, sampled, unsampled",
                         [(ReluMLP, (32,), 130, 100, 2), (SmallResNet, (3, 16, 16), 220, 180, 2),
                          (FunctionalReluMLP, (32,), 130, 100, 2), (FunctionalResNet, (3, 16, 16), 220, 180, 2)],
                         ids=["relu-mlp", "resnet", "relu-mlp-functional", "resnet-functional"])
def test_ops_a_probe_adds_to_a_training_step(make_model, in_shape, first, sampled, unsampled, monkeypatch):
    # the statistics as a GPU computes them (batched: one op per statistic for all parameters);
    # on the CPU, where bandwidth and not launches is the cost, the probe uses per-tensor kernels
    monkeypatch.setattr(core, "BATCHED_STATS", True)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
    x, y = Teacher(in_shape).batch()

    def ops_of_one_step(probe=None):
        with _CountOps() as count:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if probe is not None:
                probe.step(loss)
        return count.ops

    ops_of_one_step()  # the optimizer's state is made at its first step
    plain = ops_of_one_step()
    with Probe(model, every=5) as probe:
        extra = [ops_of_one_step(probe) - plain for _ in range(11)]  # steps 0, 5 and 10 sampled
    watched = any(row.function for row in probe.report().layers)
    assert watched == make_model.__name__.startswith("Functional")
    assert extra[0] <= first
    assert extra[5] <= sampled and extra[10] <= sampled
    assert max(extra[1:5] + extra[6:10]) <= unsampled




def test_losses_between_far_apart_checks_are_folded_without_losing_the_first_step():
    model = ReluMLP()
    opt = torch.optim.SGD(model.parameters(), 0.01)
    data = Teacher((32,))
    with Probe(model, every=100) as probe:  # the first 64 losses are folded before the check
        for step in range(150):
            x, y = data.batch()
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            probe.step(loss * float("nan") if step in (30, 90, 140) else loss)  # 140: read at close
    (finding,) = probe.report().findings
    assert finding.code == "DLP005" and finding.module == "(loss)" and finding.steps == [30, 140]
    assert finding.values["nonfinite_losses"] == 3 and finding.values["loss_first_nonfinite_step"] == 30


@pytest.mark.parametrize("make_opt", [lambda p: torch.optim.SGD(p, 0.05, momentum=0.9),
                                      lambda p: torch.optim.Adam(p, 1e-3)], ids=["sgd-momentum", "adam"])
def test_per_tensor_and_batched_statistics_agree(make_opt, monkeypatch):
    # the CPU path (per-tensor kernels; a layer's update measured on a strided sample of about 4096
    # of its elements) against the batched path (foreach over all parameters; full copies)
    def rows(batched):
        monkeypatch.setattr(core, "BATCHED_STATS", batched)
        torch.manual_seed(0)
        model = ReluMLP(width=256, depth=3)  # 256x256 matrices: sampled every 17th element
        opt = make_opt(model.parameters())
        data = Teacher((32,))
        with Probe(model, every=1) as probe:
            for _ in range(4):
                x, y = data.batch()
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                probe.step(loss)
        return {row.module: row for row in probe.report().layers if row.kind == "weight"}

    per_tensor, batched = rows(False), rows(True)
    assert set(per_tensor) == set(batched) == {"layers.0", "layers.1", "layers.2", "head"}
    for name, row in per_tensor.items():
        other = batched[name]
        for stat in ("grad_rms", "grad_mean_abs", "grad_max_abs"):
            assert getattr(row, stat) == pytest.approx(getattr(other, stat), rel=1e-5), (name, stat)
        assert row.identical_rows == other.identical_rows == 0
        # the sampled estimate of log10(|dw|/|w|) is within 5% of the exact ratio
        assert row.log10_update_ratio == pytest.approx(other.log10_update_ratio, abs=0.02), name
    assert any(per_tensor[n].log10_update_ratio != batched[n].log10_update_ratio for n in per_tensor)
