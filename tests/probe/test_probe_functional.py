"""Functional activations (F.relu, torch.relu, x.relu(), torch.sigmoid, torch.tanh, in-place
variants) called inside a forward are watched on sampled steps through a TorchFunctionMode, and
reported as layers of their own: ``block (F.relu)``, ``<root> (F.sigmoid, call 2)``. Activation
modules (nn.ReLU calls F.relu) are not counted twice; unsampled steps stay unwatched."""

import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dllint.probe import Probe
from dllint.probe.core import FUNCTIONAL_ACTIVATIONS
from probe_models import (FunctionalReluMLP, FunctionalResNet, FunctionalSigmoidMLP, FunctionalTanhMLP, ReluMLP,
                          Teacher, train)


def run(model, data, opt, steps, every=1, **kw):
    with Probe(model, every=every) as probe:
        train(model, data, steps, opt, probe=probe, **kw)
    return probe.report()


def _mode_depth():
    return torch._C._len_torch_function_stack()


# --- recall ----------------------------------------------------------------------------------

@pytest.mark.parametrize("style", ["F", "torch", "method", "inplace", "method_"])
def test_dead_functional_relu_names_the_call_and_its_module(style):
    m = FunctionalReluMLP(bias=-10.0, style=style)
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=5)
    dead = r.by_code("DLP003")
    assert sorted(f.module for f in dead) == [f"blocks.{i} (F.relu)" for i in range(4)]
    assert all(f.cls == "FReluBlock" and f.values["dead_fraction"] == 1.0 for f in dead)
    assert all(f.values["units"] == 64 and f.steps[0] == 0 for f in dead)
    assert dead[0].source and dead[0].source["filename"].endswith("probe_models.py")  # the module's statement
    rows = {(row.module, row.function, row.call): row for row in r.layers}
    assert rows[("blocks.0", "F.relu", 1)].dead_fraction == 1.0
    assert rows[("blocks.0", "F.relu", 1)].act_std is None  # a functional row keeps no moments
    data = r.to_dict()
    assert any(layer["function"] == "F.relu" and layer["module"] == "blocks.2" for layer in data["layers"])
    assert "blocks.0 (F.relu)" in str(r)


def test_functional_sigmoid_mlp_saturated_with_std1_init():
    # as test_sigmoid_mlp_saturated_with_std1_init, with torch.sigmoid called in the model's forward
    m = FunctionalSigmoidMLP(depth=10, width=500, init_std=1.0)
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=3)
    sat = r.by_code("DLP004")
    assert len(sat) >= 9  # every hidden sigmoid but (possibly) the first
    assert all(f.values["saturated_fraction"] > 0.5 for f in sat)
    assert {f.cls for f in sat} == {"FunctionalSigmoidMLP"}
    assert {f.module for f in sat} <= {"<root> (F.sigmoid)"} | {f"<root> (F.sigmoid, call {i})" for i in range(2, 11)}


def test_functional_tanh_saturates_too():
    m = FunctionalSigmoidMLP(depth=6, width=300, init_std=1.0, act="tanh")
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=2)
    assert len(r.by_code("DLP004")) >= 5
    assert all("(F.tanh" in f.module for f in r.by_code("DLP004"))


def test_the_set_of_watched_functions_is_explicit():
    names = {}
    for fn, (name, kind) in FUNCTIONAL_ACTIVATIONS.items():
        names.setdefault(name, set()).add(kind)
    assert names == {"F.relu": {"relu"}, "F.relu6": {"relu"}, "F.sigmoid": {"saturating"}, "F.tanh": {"saturating"}}
    for fn in (F.relu, torch.relu, torch.Tensor.relu, torch.relu_, torch.Tensor.relu_, torch.sigmoid,
               torch.Tensor.sigmoid, torch.tanh, torch.Tensor.tanh, torch.Tensor.tanh_):
        assert fn in FUNCTIONAL_ACTIVATIONS
    for fn in (F.leaky_relu, F.gelu, F.silu, F.elu, F.softmax):  # do not die / not a unit activation
        assert fn not in FUNCTIONAL_ACTIVATIONS


# --- precision -------------------------------------------------------------------------------

@pytest.mark.parametrize("build, data, opt, steps", [
    (FunctionalResNet, lambda: Teacher((3, 16, 16)),
     lambda p: torch.optim.SGD(p, 0.1, momentum=0.9, weight_decay=5e-4), 24),
    (FunctionalReluMLP, lambda: Teacher((32,)), lambda p: torch.optim.Adam(p, 1e-3), 40),
    (FunctionalTanhMLP, lambda: Teacher((32,)), lambda p: torch.optim.Adam(p, 1e-3), 40),
], ids=["resnet-functional", "relu-mlp-functional", "tanh-mlp-functional"])
def test_healthy_functional_models_trigger_nothing(build, data, opt, steps):
    m = build()
    r = run(m, data(), opt(m.parameters()), steps=steps)
    assert r.summary["checks"] == steps
    assert r.findings == [], r.to_text(layers=False)
    functional = [row for row in r.layers if row.function]
    assert functional  # they were watched, and found healthy
    assert all(row.dead_fraction is not None or row.saturated_fraction is not None for row in functional)


def test_resnet_functional_rows_per_block_and_call():
    m = FunctionalResNet()
    r = run(m, Teacher((3, 16, 16)), torch.optim.SGD(m.parameters(), 0.1), steps=1)
    names = [(row.module, row.function, row.call) for row in r.layers if row.function]
    assert names == [("", "F.relu", 1)] + [(f"layer{i}", "F.relu", c) for i in (1, 2, 3) for c in (1, 2)]
    assert "<root> (F.relu)" in r.table() and "layer2 (F.relu) #2" in r.table()


def test_activation_modules_are_not_counted_twice():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.out = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 4)
            self.act, self.sig = nn.ReLU(), nn.Sigmoid()

        def forward(self, x):
            h = self.act(self.fc1(x))  # the module calls F.relu: counted once, as "act"
            h = F.relu(self.fc2(h))  # counted as "<root> (F.relu)"
            return self.out(self.sig(h) * torch.tanh(h))

    m = Mixed()
    r = run(m, Teacher((16,), classes=4), torch.optim.SGD(m.parameters(), 0.01), steps=2)
    acts = sorted((row.module, row.function, row.call) for row in r.layers if row.kind in ("relu", "saturating"))
    assert acts == [("", "F.relu", 1), ("", "F.tanh", 1), ("act", None, 1), ("sig", None, 1)]


def test_relu_modules_only_model_has_no_functional_rows():
    m = ReluMLP()
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.05), steps=3)
    assert not [row for row in r.layers if row.function]
    assert sorted(row.module + f"#{row.call}" for row in r.layers if row.kind == "relu") == \
        ["act#1", "act#2", "act#3", "act#4"]


def test_a_function_called_in_a_loop_is_capped_and_noted():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.Linear(16, 16)
            self.out = nn.Linear(16, 4)

        def forward(self, x):
            for _ in range(40):  # a hand-written recurrence
                x = torch.tanh(self.cell(x))
            return self.out(x)

    m = Loop()
    r = run(m, Teacher((16,), classes=4), torch.optim.SGD(m.parameters(), 0.01), steps=2)
    rows = [row for row in r.layers if row.function == "F.tanh"]
    assert [row.call for row in rows] == list(range(1, 17))
    assert any("not watched" in n for n in r.summary["notes"])


# --- guarantees ------------------------------------------------------------------------------

class _Spy(nn.Module):
    """Records, at every forward, whether a torch function mode is active and the hook count."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.seen = []

    def forward(self, x):
        self.seen.append((_mode_depth(), sum(len(m._forward_hooks) + len(m._forward_pre_hooks)
                                             for m in self.model.modules())))
        return self.model(x)


def test_unsampled_steps_have_no_mode_and_no_hooks():
    inner = FunctionalReluMLP(style="torch")
    m = _Spy(inner)
    opt = torch.optim.SGD(m.parameters(), 0.01)
    data = Teacher((32,))
    outside = []
    with Probe(m, every=5) as p:
        for _ in range(11):
            x, y = data.batch()
            out = m(x)
            outside.append(_mode_depth())  # after the forward: the loss, backward, step run unwatched
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            outside.append(_mode_depth())
            p.step(loss)
    assert [d for d, _ in m.seen] == [1 if s % 5 == 0 else 0 for s in range(11)]
    assert all(h == 0 for s, (_, h) in enumerate(m.seen) if s % 5)  # nothing hooked on unsampled steps
    assert all(h > 0 for s, (_, h) in enumerate(m.seen) if s % 5 == 0)
    assert outside == [0] * 22
    assert _mode_depth() == 0 and p.report().summary["checks"] == 3


def test_no_mode_for_forwards_without_gradients_and_after_an_exception():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.fail = False

        def forward(self, x):
            h = F.relu(self.fc(x))
            if self.fail:
                raise RuntimeError("user error in forward")
            return h

    m = Boom()
    with Probe(m, every=1) as p:
        with torch.no_grad():
            m(torch.randn(4, 8))
        m.fail = True
        with pytest.raises(RuntimeError, match="user error"):
            m(torch.randn(4, 8))
        assert _mode_depth() == 0  # popped although the forward raised
        m.fail = False
        m(torch.randn(4, 8)).sum().backward()
        p.step()
    assert _mode_depth() == 0
    assert p.report().summary["errors"] == []


def test_a_user_mode_inside_forward_is_left_alone():
    from torch.overrides import TorchFunctionMode

    class Count(TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    class WithMode(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            with Count():
                return torch.relu(self.fc(x))

    m = WithMode()
    with Probe(m, every=1) as p:
        m(torch.randn(4, 8)).sum().backward()
        p.step()
    assert Count.calls > 0 and _mode_depth() == 0
    assert any(row.function == "F.relu" for row in p.report().layers)


@pytest.fixture
def deterministic():
    prev = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(prev)


class _FunctionalDropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(32, 64), nn.Linear(64, 64), nn.Linear(64, 10)
        self.bn = nn.BatchNorm1d(64)

    def forward(self, x):
        h = F.relu(self.bn(self.fc1(x)), inplace=True)
        h = F.dropout(h, 0.3, self.training)  # the global RNG stream must be untouched
        h = torch.sigmoid(self.fc2(h)) * h.tanh()
        return self.fc3(h.relu_())


@pytest.mark.parametrize("every", [1, 3])
def test_parameters_bitwise_identical_with_functional_activations(deterministic, every):
    def train_copy(probe_every):
        torch.manual_seed(0)
        m = _FunctionalDropoutNet()
        o = torch.optim.Adam(m.parameters(), 1e-2)
        data = Teacher((32,), seed=0)
        if probe_every is None:
            train(m, data, 15, o)
            return m, None
        with Probe(m, every=probe_every) as p:
            train(m, data, 15, o, probe=p)
        return m, p.report()

    ref, _ = train_copy(None)
    probed, report = train_copy(every)
    for (n, a), (_, b) in zip(ref.state_dict().items(), probed.state_dict().items()):
        assert torch.equal(a, b), n
    assert {row.function for row in report.layers if row.function} == {"F.relu", "F.sigmoid", "F.tanh"}


def test_one_host_transfer_per_sampled_step_with_functional_activations(monkeypatch):
    calls = {"tolist": 0, "item": 0, "cpu": 0, "float": 0, "bool": 0}
    for name, attr in (("tolist", "tolist"), ("item", "item"), ("cpu", "cpu"), ("float", "__float__"),
                       ("bool", "__bool__")):
        orig = getattr(torch.Tensor, attr)

        def counted(self, *a, _orig=orig, _name=name, **k):
            calls[_name] += 1
            return _orig(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, attr, counted)
    m = _FunctionalDropoutNet()
    opt = torch.optim.SGD(m.parameters(), 0.01)
    x, y = Teacher((32,)).batch()
    with Probe(m, every=4) as p:
        for _ in range(12):
            loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            p.step(loss)
        during = dict(calls)
    monkeypatch.undo()
    assert during == {"tolist": 3, "item": 0, "cpu": 0, "float": 0, "bool": 0}


def test_amp_autocast_with_functional_activations():
    m = FunctionalReluMLP(bias=-10.0)
    opt = torch.optim.SGD(m.parameters(), 0.01)
    scaler = torch.amp.GradScaler("cpu")
    data = Teacher((32,))
    with Probe(m, every=1, scaler=scaler) as p:
        for _ in range(3):
            x, y = data.batch()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = F.cross_entropy(m(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            p.step(loss)
    r = p.report()
    assert sorted(f.module for f in r.by_code("DLP003")) == [f"blocks.{i} (F.relu)" for i in range(4)]
    assert r.summary["errors"] == []


def test_compiled_submodule_turns_functional_watching_off_gracefully():
    m = FunctionalReluMLP(bias=-10.0)
    m.blocks[1] = torch.compile(m.blocks[1], backend="eager")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=2)
    assert any("compile" in n and "functional" in n for n in r.summary["notes"])
    assert not [row for row in r.layers if row.function] and _mode_depth() == 0


def test_compiled_model_has_no_functional_rows():
    m = FunctionalReluMLP(bias=-10.0)
    cm = torch.compile(m, backend="eager")
    with pytest.warns(RuntimeWarning, match="torch.compile"):
        r = run(cm, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=2)
    assert "DLP003" not in r.codes and _mode_depth() == 0
    assert all(row.act_std is None and row.function is None for row in r.layers)


def test_disabled_detectors_mean_no_mode():
    m = _Spy(FunctionalReluMLP())
    with Probe(m, every=1, ignore=["DLP003", "DLP004"]) as p:
        train(m, Teacher((32,)), 2, torch.optim.SGD(m.parameters(), 0.01), probe=p)
    assert [d for d, _ in m.seen] == [0, 0]
    assert not [row for row in p.report().layers if row.function]


def test_a_module_only_model_is_looked_at_every_tenth_check():
    m = _Spy(ReluMLP())
    with Probe(m, every=1) as p:
        train(m, Teacher((32,)), 25, torch.optim.SGD(m.parameters(), 0.01), probe=p)
    assert [s for s, (d, _) in enumerate(m.seen) if d] == [0, 10, 20]
    m2 = _Spy(FunctionalReluMLP())  # once seen, watched at every sampled step
    with Probe(m2, every=1) as p:
        train(m2, Teacher((32,)), 5, torch.optim.SGD(m2.parameters(), 0.01), probe=p)
    assert [d for d, _ in m2.seen] == [1] * 5


def test_no_references_kept_with_functional_activations():
    import gc
    import weakref

    m = FunctionalReluMLP(inp=16, width=32, depth=2)
    opt = torch.optim.SGD(m.parameters(), 0.01)
    data = Teacher((16,))
    acts = []
    grab = m.blocks[0].register_forward_hook(lambda mod, i, o: acts.append(weakref.ref(o)))

    def live_tensors():
        gc.collect()
        return sum(1 for o in gc.get_objects() if issubclass(type(o), torch.Tensor))

    with Probe(m, every=10) as p:
        train(m, data, 50, opt, probe=p)
        baseline = live_tensors()
        train(m, data, 300, opt, probe=p)
        assert live_tensors() <= baseline
    grab.remove()
    gc.collect()
    assert all(r() is None for r in acts)
    assert p.report().summary["checks"] == 35 and _mode_depth() == 0


def test_eval_mode_transformer_fast_path_is_not_disturbed():
    # nn.TransformerEncoderLayer / MultiheadAttention take a fused path in eval mode unless a
    # function mode is active: the probe pauses its mode inside them, so a frozen eval-mode
    # encoder inside a training model computes exactly what it computes without the probe
    seen = []

    class Layer(nn.TransformerEncoderLayer):
        def forward(self, *a, **k):
            seen.append((self.training, _mode_depth()))
            return super().forward(*a, **k)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen = Layer(16, 2, 32, dropout=0.0, batch_first=True)
            self.trained = Layer(16, 2, 32, dropout=0.0, batch_first=True)
            self.head = nn.Linear(16, 4)

        def forward(self, x):
            return self.head(self.trained(self.frozen(x)).mean(1))

    m = Net()
    m.frozen.eval().requires_grad_(False)
    x = torch.randn(4, 6, 16)
    with torch.no_grad():
        ref = m.frozen(x)
    with Probe(m, every=1) as p:
        frozen_out = []
        grab = m.frozen.register_forward_hook(lambda mod, i, o: frozen_out.append(o.detach()))
        m(x).sum().backward()
        p.step()
        grab.remove()
    assert seen[-2:] == [(False, 0), (True, 1)]  # paused in the eval-mode layer only
    assert torch.equal(frozen_out[0], ref)
    assert any(row.module == "trained" and row.function == "F.relu" for row in p.report().layers)
    assert _mode_depth() == 0
