"""PROBE.md's "Must hold": the probe never changes training, leaves nothing behind, survives its
own failures, moves statistics to the host once per sampled step, and copes with AMP, reused
modules, tuple outputs and torch.compile."""

import gc
import tracemalloc
import warnings
import weakref

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dllint.probe import Probe
from probe_models import DropoutBNNet, LSTMClassifier, ReluMLP, Teacher, TokenTeacher, ZeroMLP, train


def _train_copy(seed, steps, every=None, model_cls=DropoutBNNet, opt=lambda p: torch.optim.Adam(p, 1e-2)):
    torch.manual_seed(seed)
    m = model_cls()
    o = opt(m.parameters())
    data = Teacher((32,), seed=seed)
    if every is None:
        train(m, data, steps, o)
    else:
        with Probe(m, every=every) as p:
            train(m, data, steps, o, probe=p)
    return m


@pytest.fixture
def deterministic():
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(prev)


@pytest.mark.parametrize("every", [1, 3, 10])
def test_parameters_bitwise_identical_with_and_without_probe(deterministic, every):
    steps = 25
    ref = _train_copy(0, steps)
    probed = _train_copy(0, steps, every=every)
    for (n, a), (_, b) in zip(ref.state_dict().items(), probed.state_dict().items()):
        assert torch.equal(a, b), n  # weights, BN running stats, and (via dropout) the RNG stream


def _hook_counts(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
             len(getattr(m, "_backward_pre_hooks", {}))) for m in model.modules()]


def _global_optimizer_hooks():
    from torch.optim import optimizer as o

    return len(o._global_optimizer_pre_hooks), len(o._global_optimizer_post_hooks)


def test_no_hooks_left_after_exit_and_none_on_unsampled_steps():
    m = DropoutBNNet()
    before, g_before = _hook_counts(m), _global_optimizer_hooks()
    opt = torch.optim.SGD(m.parameters(), 0.01)
    data = Teacher((32,))
    with Probe(m, every=5) as p:
        train(m, data, 1, opt, probe=p)  # step 0 sampled; now steps 1..4 are not
        assert p.steps == 1
        fwd_hooks = sum(len(x._forward_hooks) for x in m.modules())
        pre_hooks = {n: len(x._forward_pre_hooks) for n, x in m.named_modules() if x._forward_pre_hooks}
        assert fwd_hooks == 0  # nothing hooked on an unsampled step ...
        assert set(pre_hooks) == {"net.1", "net.3"}  # ... but the DLP006 mode checks on BN/Dropout
        assert torch._C._len_torch_function_stack() == 0  # no function mode between forwards
        train(m, data, 4, opt, probe=p)
        assert sum(len(x._forward_hooks) for x in m.modules()) > 0  # step 5 is sampled: armed
        assert torch._C._len_torch_function_stack() == 0  # the mode lives inside a sampled forward only
    assert _hook_counts(m) == before
    assert _global_optimizer_hooks() == g_before
    assert torch._C._len_torch_function_stack() == 0


def test_no_references_kept_and_memory_flat_over_1000_steps():
    m = ReluMLP(inp=16, width=32, depth=2)
    opt = torch.optim.SGD(m.parameters(), 0.01)
    data = Teacher((16,))
    acts = []
    grab = m.layers[0].register_forward_hook(lambda mod, i, o: acts.append(weakref.ref(o)))

    def live_tensors():
        gc.collect()
        return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))

    with Probe(m, every=10) as p:
        train(m, data, 100, opt, probe=p)
        baseline = live_tensors()
        tracemalloc.start()
        snap0 = tracemalloc.take_snapshot()
        train(m, data, 900, opt, probe=p)
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in snap1.compare_to(snap0, "filename") if s.size_diff > 0)
        assert live_tensors() <= baseline
    grab.remove()
    assert p.steps == 1000 and p.report().summary["checks"] == 100
    assert grown < 256 * 1024, f"python heap grew by {grown} bytes over 900 steps"
    gc.collect()
    assert all(r() is None for r in acts)  # no activation survives its step


def test_exception_in_a_hook_is_reported_once_and_never_breaks_training(monkeypatch, deterministic):
    def boom(self, *a, **k):
        raise ValueError("synthetic failure")

    monkeypatch.setattr(Probe, "_record_forward", boom)
    ref = _train_copy(0, 12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.manual_seed(0)
        m = DropoutBNNet()
        o = torch.optim.Adam(m.parameters(), 1e-2)
        with Probe(m, every=1) as p:
            train(m, Teacher((32,), seed=0), 12, o, probe=p)
    ours = [w for w in caught if "dllint.probe" in str(w.message)]
    assert len(ours) == 1 and "synthetic failure" in str(ours[0].message)
    errors = p.report().summary["errors"]
    assert len(errors) == 1 and errors[0]["count"] > 12  # every hooked module, every step
    for a, b in zip(ref.state_dict().values(), m.state_dict().values()):
        assert torch.equal(a, b)


def test_one_host_transfer_per_sampled_step(monkeypatch):
    calls = {"tolist": 0, "item": 0, "cpu": 0, "float": 0, "bool": 0}
    for name, attr in (("tolist", "tolist"), ("item", "item"), ("cpu", "cpu"), ("float", "__float__"),
                       ("bool", "__bool__")):
        orig = getattr(torch.Tensor, attr)

        def counted(self, *a, _orig=orig, _name=name, **k):
            calls[_name] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, attr, counted)
    m = ReluMLP()
    opt = torch.optim.SGD(m.parameters(), 0.01)
    data = Teacher((32,))
    x, y = data.batch()
    with Probe(m, every=4) as p:
        for _ in range(12):
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            p.step(loss)
        during = dict(calls)
    monkeypatch.undo()
    assert during == {"tolist": 3, "item": 0, "cpu": 0, "float": 0, "bool": 0}  # steps 0, 4, 8


def _amp_run(steps, pass_scaler):
    """float16 autocast with a large initial scale overflows (inf gradients, skipped steps), and
    growth_interval=1 doubles the scale at every good step: read before unscaling, gradients
    would look non-finite and "growing 2x per check"."""
    m = ReluMLP()
    opt = torch.optim.SGD(m.parameters(), 0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 24, growth_interval=1)
    data = Teacher((32,))
    scales, saw_inf = [], 0
    with Probe(m, every=1, scaler=scaler if pass_scaler else None) as p:
        for _ in range(steps):
            x, y = data.batch()
            with torch.autocast("cpu", dtype=torch.float16):
                loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            saw_inf += not all(torch.isfinite(q.grad).all() for q in m.parameters())
            scaler.step(opt)
            scaler.update()
            p.step(loss)
            scales.append(scaler.get_scale())
    drops = sum(b < a for a, b in zip(scales, scales[1:]))
    rises = sum(b > a for a, b in zip(scales, scales[1:]))
    return p.report(), saw_inf, drops, rises


def test_amp_gradscaler_is_not_an_explosion():
    r, saw_inf, drops, rises = _amp_run(40, pass_scaler=True)
    assert saw_inf >= 5 and drops >= 5 and rises >= 5  # the scenario really happened
    assert "DLP002" not in r.codes, r.to_text(layers=False)
    assert r.summary["checks"] >= 5


def test_amp_without_passing_the_scaler():
    # the first steps overflow before the probe has seen any optimizer step
    r, saw_inf, drops, _ = _amp_run(20, pass_scaler=False)
    assert saw_inf >= 3 and drops >= 3
    assert "DLP002" not in r.codes, r.to_text(layers=False)
    assert any("GradScaler" in n for n in r.summary["notes"])


def test_module_reused_twice_in_one_forward():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(16, 32)
            self.fc = nn.Linear(32, 32)
            self.act = nn.ReLU()
            self.out = nn.Linear(32, 4)

        def forward(self, x):
            h = self.act(self.inp(x))
            h = self.act(self.fc(h))
            h = self.act(self.fc(h))  # same Linear, same ReLU, again
            return self.out(h)

    m = Twice()
    opt = torch.optim.SGD(m.parameters(), 0.0)  # lr 0: .grad after the step is what was read
    x = torch.randn(8, 16)
    with Probe(m, every=1) as p:
        loss = m(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    r = p.report()
    rows = {(row.module, row.call): row for row in r.layers}
    assert {("fc", 1), ("fc", 2), ("act", 1), ("act", 2), ("act", 3)} <= set(rows)
    g = torch.cat([m.fc.weight.grad.flatten(), m.fc.bias.grad.flatten()])
    assert rows[("fc", 1)].grad_rms == pytest.approx(g.pow(2).mean().sqrt().item(), rel=1e-5)
    assert rows[("fc", 2)].grad_rms is None  # gradients belong to the module, once
    with torch.no_grad():
        h = torch.relu(m.fc(torch.relu(m.inp(x))))
        second = m.fc(h)
    assert rows[("fc", 2)].act_std == pytest.approx(second.std(unbiased=False).item(), rel=1e-4)


def test_tuple_outputs_lstm():
    m = LSTMClassifier()
    with Probe(m, every=1) as p:
        train(m, TokenTeacher(), 2, torch.optim.Adam(m.parameters(), 1e-3), probe=p)
    rows = {row.module: row for row in p.report().layers}
    assert rows["lstm"].act_std and rows["lstm"].act_std > 0 and rows["lstm"].grad_rms > 0


def test_gradient_accumulation_counts_optimizer_steps():
    m = ReluMLP()
    opt = torch.optim.SGD(m.parameters(), 0.01)
    data = Teacher((32,))
    with Probe(m, every=2) as p:
        for i in range(12):
            x, y = data.batch()
            (F.cross_entropy(m(x), y) / 3).backward()
            if i % 3 == 2:
                opt.step()
                opt.zero_grad()
            p.step()
    r = p.report()
    assert p.steps == 4 and r.summary["checks"] == 2
    assert any("without an optimizer step" in n for n in r.summary["notes"])


def test_torch_compile_gets_gradient_checks_and_a_clear_message():
    m = ZeroMLP()
    cm = torch.compile(m, backend="eager")
    opt = torch.optim.SGD(m.parameters(), 0.1)
    with pytest.warns(RuntimeWarning, match="torch.compile"):
        with Probe(cm, every=1) as p:
            train(cm, Teacher((32,)), 4, opt, probe=p)
    r = p.report()
    assert r.summary["compiled"] is True
    assert {f.module for f in r.by_code("DLP008")} == {"fc1", "fc2"}  # weights/gradients still read
    assert any("torch.compile" in n for n in r.summary["notes"])
    assert all(row.act_std is None for row in r.layers)  # and no forward statistics pretended


def test_probe_on_a_model_with_frozen_layers():
    m = ReluMLP()
    for q in m.layers[0].parameters():
        q.requires_grad_(False)
    with Probe(m, every=1) as p:
        train(m, Teacher((32,)), 5, torch.optim.SGD([q for q in m.parameters() if q.requires_grad], 0.05), probe=p)
    assert p.report().findings == []


def test_torch_compile_still_checks_train_mode_inference():
    m = DropoutBNNet()
    cm = torch.compile(m, backend="eager")
    cm(torch.randn(8, 32))  # compiled before the probe is attached
    with Probe(cm, every=1, warn=False) as p:
        with torch.no_grad():
            cm(torch.randn(8, 32))
    assert p.report().codes == ["DLP006"]
