"""The probe on a real GPU: the same verdicts as on the CPU, and PROBE.md's cost guarantee
checked with CUDA's own synchronisation detector rather than by counting Tensor methods.

Skipped without CUDA (CI has none); run on a GPU machine with ``python -m pytest tests/probe``.
"""

import warnings

import pytest
import torch
from probe_models import FunctionalReluMLP, PoisonNet, ReluMLP, SigmoidMLP, Teacher, ZeroMLP, bert_classifier, train
from test_probe_calibration import HEALTHY
from torch.nn import functional as F

from dllint.probe import Probe, check

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")


class OnDevice:
    """Wraps a calibration data source so its batches land on ``device``."""

    def __init__(self, data, device):
        self.data = data
        self.device = device

    def batch(self, size=32):
        return tuple(t.to(self.device) for t in self.data.batch(size))


def _codes(make_model, make_data, device, steps, lr):
    torch.manual_seed(0)
    model = make_model().to(device)
    opt = torch.optim.SGD(model.parameters(), lr)
    with Probe(model, every=1) as probe:
        train(model, OnDevice(make_data(), device), steps, opt, probe=probe)
    return set(probe.report().codes)


@pytest.mark.parametrize(
    "make_model, make_data, steps, lr, expected",
    [
        (lambda: SigmoidMLP(depth=10), lambda: Teacher((32,)), 5, 0.1, {"DLP001"}),
        (ZeroMLP, lambda: Teacher((32,)), 5, 0.1, {"DLP008"}),
        (lambda: ReluMLP(bias=-10.0), lambda: Teacher((32,)), 3, 0.01, {"DLP003"}),
        (lambda: ReluMLP(), lambda: Teacher((32,)), 20, 10.0, {"DLP003", "DLP009"}),
        (ReluMLP, lambda: Teacher((32,)), 20, 0.05, set()),
        (lambda: FunctionalReluMLP(bias=-10.0), lambda: Teacher((32,)), 3, 0.01, {"DLP003"}),
    ],
    ids=["sigmoid-vanishing", "zero-init", "dead-relu", "lr-too-high", "healthy", "dead-relu-functional"],
)
def test_cuda_verdicts_match_the_cpu(make_model, make_data, steps, lr, expected):
    on_cpu = _codes(make_model, make_data, torch.device("cpu"), steps, lr)
    on_gpu = _codes(make_model, make_data, CUDA, steps, lr)
    assert expected <= on_cpu
    assert on_gpu == on_cpu


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_cuda_healthy_models_trigger_nothing(name):
    case = HEALTHY[name]
    if case.build is bert_classifier:
        pytest.importorskip("transformers")
    torch.manual_seed(0)
    model = case.build().to(CUDA)
    with Probe(model, every=1) as probe:
        train(model, OnDevice(case.data(), CUDA), case.steps, case.opt(model.parameters()), probe=probe,
              clip=case.clip, loss_fn=case.loss)
    report = probe.report()
    assert report.findings == [], report.to_text(layers=False)


def test_cuda_nan_names_the_module():
    report = check(PoisonNet().to(CUDA), (32, 32))
    (finding,) = report.by_code("DLP005")
    assert finding.module == "block.2" and finding.cls == "Poison"


def _sync_warnings(fn):
    """How many synchronising CUDA calls ``fn`` makes, as torch's sync debug mode counts them."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def test_cuda_sync_counting_sees_a_host_transfer():
    x = torch.ones(4, device=CUDA)
    assert _sync_warnings(lambda: x.sum().item()) == 1
    assert _sync_warnings(lambda: x.sum()) == 0


@pytest.mark.parametrize("make_model", [ReluMLP, FunctionalReluMLP], ids=["modules", "functional"])
def test_cuda_unsampled_steps_never_synchronize_and_sampled_steps_once(make_model):
    model = make_model().to(CUDA)
    opt = torch.optim.SGD(model.parameters(), 0.01)
    x, y = OnDevice(Teacher((32,)), CUDA).batch()

    def one_step(probe=None):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if probe is not None:
            probe.step(loss)

    for _ in range(3):  # CUDA's lazy initialisation (kernels, allocator) happens outside the count
        one_step()
    assert _sync_warnings(one_step) == 0  # the training step itself never waits for the GPU
    with Probe(model, every=4) as probe:
        for _ in range(8):
            one_step(probe)
        per_step = [_sync_warnings(lambda: one_step(probe)) for _ in range(8)]
    assert per_step == [1, 0, 0, 0, 1, 0, 0, 0]
