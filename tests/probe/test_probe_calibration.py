"""The calibration suite: each detector fires on the textbook mistake it is about, and the
healthy standard recipes fire nothing, at init and after a few dozen steps.

Thresholds are PROBE.md's defaults (published prior art); nothing here overrides them.
"""

import math
from typing import Callable, NamedTuple, Optional

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dllint.probe import Probe, check
from probe_models import (BNMLP, GPT, DropoutBNNet, FunctionalReluMLP, FunctionalResNet, FunctionalTanhMLP,
                          LSTMClassifier, MarkovText, PoisonNet, RandnNet, ReluMLP, ResNet, Reverse, Segments,
                          Seq2SeqAttention, SigmoidMLP, SigmoidTransformer, SmallResNet, Teacher, TinyTransformer,
                          TokenTeacher, UNet, ViT, ZeroMLP, bert_classifier, token_cross_entropy, train)


def run(model, data, opt, steps, every=1, **kw):
    with Probe(model, every=every) as probe:
        train(model, data, steps, opt, probe=probe, **kw)
    return probe.report()


def codes(report):
    return {f.code for f in report.findings}


# --- DLP001 / DLP004: the 10-layer sigmoid MLP ------------------------------------------------

def test_sigmoid_mlp_vanishing_gradient():
    m = SigmoidMLP(depth=10)
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=5)
    (f,) = r.by_code("DLP001")
    assert f.module == "body.0" and f.cls == "Linear"
    assert f.values["ratio"] < 1e-3 and f.values["first_grad_rms"] < 1e-4
    assert f.steps[0] == 0  # present at init
    assert f.source and f.source["filename"].endswith("probe_models.py")
    assert "DLP004" not in codes(r)  # PyTorch's default init keeps |pre-activations| small


def test_sigmoid_mlp_saturated_with_std1_init():
    # CS231n's weight-init demo: 10 layers of 500 units, W ~ N(0, 1) -> units pinned at 0/1
    m = SigmoidMLP(depth=10, width=500, init_std=1.0)
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=3)
    sat = r.by_code("DLP004")
    assert len(sat) >= 9  # every hidden sigmoid but (possibly) the first
    assert all(f.values["saturated_fraction"] > 0.5 for f in sat)
    assert {f.cls for f in sat} == {"Sigmoid"}


def test_sigmoid_mlp_on_raw_pixels_vanishes_and_saturates():
    class RawPixels(Teacher):  # inputs in [0, 255], never normalised
        def batch(self, size=32):
            x, y = super().batch(size)
            return (x * 40 + 128).clamp(0, 255), y

    m = SigmoidMLP(depth=10)
    r = run(m, RawPixels((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=5)
    assert {"DLP001", "DLP004"} <= codes(r)
    assert r.by_code("DLP004")[0].module == "body.1"  # the first sigmoid, fed raw pixels


def test_sigmoid_attention_stack_vanishes_like_with_like():
    # the deep sigmoid stack inside repeated attention blocks: block 0's FFN against block 7's
    m = SigmoidTransformer()
    r = run(m, TokenTeacher(), torch.optim.Adam(m.parameters(), 1e-3), steps=3)
    (f,) = r.by_code("DLP001")
    assert f.module == "blocks.0.attn" and f.steps == [0, 1, 2]
    assert f.values["like_with_like"] is True and f.values["groups"] == 3  # attn, ffn.0, ffn.2
    assert f.values["ratio"] < 1e-3 and f.values["early_grad_rms"] < 1e-4


def test_bert_query_key_gradients_are_small_by_design_not_vanishing():
    pytest.importorskip("transformers")
    m = bert_classifier()
    r = run(m, TokenTeacher(), torch.optim.AdamW(m.parameters(), 1e-3), steps=3)
    rms = {row.module: row.grad_rms for row in r.layers if row.kind == "weight"}
    first, last = "model.bert.encoder.layer.0.attention.self.query", "model.classifier"
    # what the first-versus-last rule saw (AUTOTRAINER's 1e-3 and 1e-4): Q is small in both layers
    assert rms[first] / rms[last] < 1e-3 and rms[first] < 1e-4
    assert rms["model.bert.encoder.layer.1.attention.self.query"] < 1e-4
    assert r.findings == [], r.to_text(layers=False)


def test_a_zero_initialised_head_is_a_note_not_vanishing_and_decay_alone_is_not_an_update():
    m = ViT()
    opt = torch.optim.AdamW(m.parameters(), 1e-3, weight_decay=0.05)
    with Probe(m, every=1) as p:
        train(m, Teacher((3, 16, 16)), 1, opt, probe=p)
        step0 = {row.module: row for row in p.report().layers}
        train(m, Teacher((3, 16, 16)), 4, opt, probe=p)
    # at step 0 nothing but the head has a gradient, and AdamW's decoupled decay alone moved the rest
    assert step0["conv_proj"].grad_rms == 0 and step0["heads.head"].grad_rms > 0
    assert step0["conv_proj"].log10_update_ratio == pytest.approx(math.log10(1e-3 * 0.05), abs=1e-3)
    r = p.report()
    assert r.findings == [], r.to_text(layers=False)
    assert any("heads.head had all-zero weights at step 0" in note for note in r.summary["notes"])


def test_zero_init_residual_blocks_the_branches_at_init_and_is_fine():
    m = ResNet(width=8, zero_init_residual=True)
    r = run(m, Teacher((3, 32, 32)), torch.optim.SGD(m.parameters(), 0.1, momentum=0.9, weight_decay=5e-4), steps=1)
    rms = {row.module: row.grad_rms for row in r.layers if row.kind == "weight"}
    assert rms["layer1.0.conv1"] == 0 and rms["layer4.1.conv2"] == 0 and rms["conv1"] > 0  # blocked, by design
    assert r.findings == [], r.to_text(layers=False)


class BinaryClassifier(nn.Module):
    """A healthy binary classifier whose forward ends in a sigmoid (a module or a call)."""

    def __init__(self, functional):
        super().__init__()
        self.functional = functional
        self.body = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 1))
        self.out = nn.Sigmoid()

    def forward(self, x):
        logits = self.body(x)
        return (torch.sigmoid(logits) if self.functional else self.out(logits)).squeeze(1)


@pytest.mark.parametrize("functional", [False, True], ids=["nn.Sigmoid", "torch.sigmoid"])
def test_a_confident_output_sigmoid_is_not_saturation(functional):
    # Trained on a separable task its outputs sit near 0 and 1, |logit| > 5: that is the goal,
    # not a unit stuck in a flat tail. Only activations that feed a later weight layer count.
    g = torch.Generator().manual_seed(2)
    w = torch.randn(16, generator=g)
    m = BinaryClassifier(functional)
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    with Probe(m, every=10) as p:
        for _ in range(300):
            x = torch.randn(64, 16, generator=g)
            loss = F.binary_cross_entropy(m(x), (x @ w > 0).float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            p.step(loss)
    assert loss.item() < 0.2
    assert p.report().findings == []


# --- DLP003: dead ReLU -----------------------------------------------------------------------

def test_dead_relu_from_large_negative_bias():
    m = ReluMLP(bias=-10.0)
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=5)
    dead = r.by_code("DLP003")
    # one ReLU module reused after each of the 4 layers: reported per call
    assert sorted(f.module for f in dead) == ["act", "act (call 2)", "act (call 3)", "act (call 4)"]
    assert all(f.values["dead_fraction"] == 1.0 for f in dead)


def test_dead_relu_from_destructive_learning_rate():
    m = ReluMLP()
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 5.0), steps=30)
    dead = r.by_code("DLP003")
    assert dead, r
    assert all(f.values["dead_fraction"] >= 0.7 and f.values["checks_in_window"] == 5 for f in dead)
    assert min(f.steps[0] for f in dead) > 0  # not dead at init: the updates killed them


def test_healthy_relu_mlp_has_no_dead_units():
    m = ReluMLP()
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.05), steps=30)
    assert "DLP003" not in codes(r)


# --- DLP008: zero init -----------------------------------------------------------------------

def test_zero_initialised_mlp_has_symmetric_units():
    m = ZeroMLP()
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.1), steps=10)
    sym = {f.module: f for f in r.by_code("DLP008")}
    assert set(sym) == {"fc1", "fc2"}  # the output layer's units are told apart by their targets
    assert sym["fc1"].values["identical_weight_rows"] == 64


def test_zero_initialised_output_layer_is_fine():
    # a deliberate zero-init of the last layer (DL101's must-not-flag) breaks symmetry after a step
    m = ReluMLP()
    nn.init.zeros_(m.head.weight)
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.05), steps=10)
    assert "DLP008" not in codes(r)


# --- DLP007: std-1 randn weights -------------------------------------------------------------

def test_randn_weights_drift_activation_scale():
    m = RandnNet()
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 1e-3), steps=3)
    (f,) = r.by_code("DLP007")
    assert f.steps[0] == 0
    assert f.values["factor"] >= 10
    assert f.values["first_layer"] == "fcs.0" and f.values["last_layer"] == "fcs.7"


# --- DLP002 / DLP009: learning rate 10 -------------------------------------------------------

def test_learning_rate_10_explodes():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(32, 1, generator=g)

    class Regression:
        def batch(self, size=32):
            x = torch.randn(size, 32, generator=g)
            return x, x @ w

    m = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    r = run(m, Regression(), torch.optim.SGD(m.parameters(), 10.0), steps=12, loss_fn=F.mse_loss)
    assert {"DLP002", "DLP009"} <= codes(r)
    (upd,) = r.by_code("DLP009")
    assert upd.values["direction"] == "high" and upd.steps[0] == 0
    growth = [f for f in r.by_code("DLP002") if "global_grad_norm" in f.values]
    assert growth and all(g_ >= 2 for g_ in growth[0].values["growth_per_check"])


def test_learning_rate_far_too_low():
    m = ReluMLP()
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 1e-7), steps=8)
    (f,) = r.by_code("DLP009")
    assert f.values["direction"] == "low"
    assert f.steps[0] == 4  # too low is judged on a full window (5 checks)
    assert all(v < -4 for v in f.values["log10_update_ratio"].values())


def test_sensible_learning_rate_has_no_update_ratio_finding():
    m = ReluMLP()
    r = run(m, Teacher((32,)), torch.optim.Adam(m.parameters(), 1e-3), steps=20)
    assert "DLP009" not in codes(r) and "DLP002" not in codes(r)


# --- DLP005: injected NaN --------------------------------------------------------------------

def test_injected_nan_names_the_module():
    m = PoisonNet()
    r = run(m, Teacher((32,)), torch.optim.SGD(m.parameters(), 0.01), steps=2)
    (f,) = r.by_code("DLP005")
    assert f.module == "block.2" and f.cls == "Poison"
    assert f.values["input_nonfinite"] is False and f.values["parameters_nonfinite"] is False
    # step 1 starts from NaN weights (the step-0 update): a consequence, not a second origin
    assert f.steps == [0]
    assert "this module's own computation" in f.message


@pytest.mark.parametrize("make_model", [ReluMLP, FunctionalReluMLP], ids=["nn.ReLU", "F.relu"])
def test_nan_weights_are_not_also_reported_as_dead_relus(make_model):
    m = make_model()
    opt = torch.optim.SGD(m.parameters(), 0.01)
    data = Teacher((32,))
    with Probe(m, every=1) as p:
        train(m, data, 3, opt, probe=p)
        with torch.no_grad():
            next(m.parameters()).fill_(float("nan"))
        train(m, data, 10, opt, probe=p)  # every unit now outputs NaN: not "<= 0", not dead
    codes_ = codes(p.report())
    assert "DLP005" in codes_ and "DLP003" not in codes_


def test_nan_between_checks_is_localised_at_the_next_check():
    m = ReluMLP()
    data = Teacher((32,))

    class Bad:
        step = 0

        def batch(self, size=32):
            x, y = data.batch(size)
            Bad.step += 1
            if Bad.step == 6:  # step 5: not a sampled step with every=10
                x[0, 0] = float("nan")
            return x, y

    r = run(m, Bad(), torch.optim.SGD(m.parameters(), 0.01), steps=12, every=10)
    (f,) = r.by_code("DLP005")
    assert f.steps == [10]
    assert f.module == "layers.0"
    assert f.values["parameters_nonfinite"] is True  # the step-5 update wrote NaN into the weights
    assert f.values["loss_first_nonfinite_step"] == 5


def test_nan_in_the_batch_is_blamed_on_the_data():
    m = ReluMLP()
    x = torch.randn(8, 32)
    x[3, 1] = float("inf")
    with Probe(m) as p:
        m(x).sum().backward()
        p.step()
    (f,) = p.report().by_code("DLP005")
    assert f.module == "layers.0" and f.values["input_nonfinite"] is True
    assert "the batch" in f.message


# --- DLP006: inference without eval() --------------------------------------------------------

@pytest.mark.parametrize("ctx", [torch.no_grad, torch.inference_mode])
def test_inference_in_train_mode(ctx):
    m = DropoutBNNet()
    with Probe(m) as p:
        with ctx():
            m(torch.randn(8, 32))
    (f,) = p.report().by_code("DLP006")
    assert set(f.values["modules"]) == {"net.1", "net.3"}
    assert f.values["grad_mode"] == ("no_grad" if ctx is torch.no_grad else "inference_mode")


def test_inference_after_eval_is_fine():
    m = DropoutBNNet()
    data = Teacher((32,))
    with Probe(m, every=1) as p:
        train(m, data, 3, torch.optim.SGD(m.parameters(), 0.01), probe=p)
        m.eval()
        with torch.no_grad():
            m(torch.randn(8, 32))
        m.train()
    assert p.report().findings == []


# --- healthy models: nothing at init, nothing after a few dozen steps -------------------------

class Healthy(NamedTuple):
    build: Callable
    data: Callable
    opt: Callable
    steps: int
    clip: Optional[float] = None
    loss: Callable = F.cross_entropy


def sgd_resnet(p):  # torchvision's ImageNet recipe
    return torch.optim.SGD(p, 0.1, momentum=0.9, weight_decay=5e-4)


HEALTHY = {
    "resnet-bn": Healthy(SmallResNet, lambda: Teacher((3, 16, 16)), sgd_resnet, 24),
    "bn-mlp": Healthy(BNMLP, lambda: Teacher((32,)), lambda p: torch.optim.Adam(p, 1e-3), 40),
    "transformer": Healthy(TinyTransformer, TokenTeacher, lambda p: torch.optim.AdamW(p, 1e-3), 30),
    "lstm-clipped": Healthy(LSTMClassifier, TokenTeacher, lambda p: torch.optim.Adam(p, 1e-3), 40, clip=1.0),
    # F.relu in forward (watched through the function mode on sampled steps)
    "resnet-bn-functional": Healthy(FunctionalResNet, lambda: Teacher((3, 16, 16)), sgd_resnet, 24),
    "tanh-mlp-functional": Healthy(FunctionalTanhMLP, lambda: Teacher((32,)), lambda p: torch.optim.Adam(p, 1e-3), 40),
    # modern architectures: attention (query/key gradients small at init by design), zero-initialised
    # heads and residual branches, encoder-decoders
    "bert": Healthy(bert_classifier, TokenTeacher, lambda p: torch.optim.AdamW(p, 1e-3), 20),
    "vit-zero-head": Healthy(ViT, lambda: Teacher((3, 16, 16)), lambda p: torch.optim.AdamW(p, 1e-3), 20),
    "gpt-pre-norm": Healthy(lambda: GPT(d=32, length=16), lambda: MarkovText(length=16),
                            lambda p: torch.optim.AdamW(p, 1e-3, weight_decay=0.1), 20, clip=1.0,
                            loss=token_cross_entropy),
    "unet": Healthy(lambda: UNet(width=4, levels=2), Segments, lambda p: torch.optim.Adam(p, 1e-3), 20),
    "lstm-seq2seq-attention": Healthy(Seq2SeqAttention, Reverse, lambda p: torch.optim.Adam(p, 1e-3), 20, clip=1.0,
                                      loss=token_cross_entropy),
    "resnet-zero-init-residual": Healthy(lambda: ResNet(width=8, zero_init_residual=True), lambda: Teacher((3, 32, 32)),
                                         sgd_resnet, 20),
}


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_models_trigger_nothing(name):
    case = HEALTHY[name]
    if case.build is bert_classifier:
        pytest.importorskip("transformers")
    m = case.build()
    x, y = case.data().batch(16)
    at_init = check(m, x, target=y, loss_fn=case.loss, steps=1)  # the one-shot probe on a copy, at init
    assert at_init.findings == [], at_init.to_text(layers=False)
    r = run(m, case.data(), case.opt(m.parameters()), steps=case.steps, every=1, clip=case.clip, loss_fn=case.loss)
    assert r.summary["checks"] == case.steps  # every step checked, from the first (init) on
    assert r.findings == [], r.to_text(layers=False)
    assert r.layers and all(row.grad_rms is None or row.grad_rms > 0 for row in r.layers if row.kind == "weight")
