"""The gradient's depth trend, compared like with like (dllint.probe.depth): roles of repeated
blocks, the robust (Theil–Sen) trend, blocked layers. Pure Python: synthetic depth profiles."""

import pytest

from dllint.probe.depth import depth_trend, role_pattern


def roles_of(order):
    return {n: ("Linear", role_pattern(n), ()) for n in order}


def test_role_patterns_replace_every_index():
    assert role_pattern("encoder.layer.3.attention.self.query") == "encoder.layer.#.attention.self.query"
    assert role_pattern("layer2.1.conv1") == "layer#.#.conv#"
    assert role_pattern("encoder.layers.encoder_layer_11.mlp.0") == "encoder.layers.encoder_layer_#.mlp.#"
    assert role_pattern("head") == "head" and role_pattern("") == ""


def bert_like(layers=4, qk=5e-7, other=1e-4):
    order, rms = [], {}
    for i in range(layers):
        for part, value in (("query", qk), ("key", qk), ("value", other), ("dense", other)):
            name = f"encoder.layer.{i}.{part}"
            order.append(name)
            rms[name] = value * (1 + 0.1 * ((i * 7 + len(part)) % 3))  # some noise, no trend
    order.append("classifier")
    rms["classifier"] = 0.02
    return order, rms


def test_query_key_small_in_every_block_is_no_trend():
    order, rms = bert_like()
    # what the first-versus-last rule saw: first layer (a query) / last layer (the classifier)
    assert rms[order[0]] / rms[order[-1]] < 1e-3 and rms[order[0]] < 1e-4
    trend = depth_trend(order, rms, roles_of(order))
    assert trend.like_with_like and len(trend.groups) == 4
    assert 0.5 < trend.ratio < 2
    assert "classifier" not in trend.layers  # no other layer plays its role


def test_a_decaying_stack_of_blocks_is_a_trend():
    order, rms = [], {}
    for i in range(6):  # every block's layers 10x smaller than the next block's
        for part, scale in (("attn", 1e-3), ("ffn", 1.0)):
            name = f"blocks.{i}.{part}"
            order.append(name)
            rms[name] = scale * 10.0 ** (i - 5)
    trend = depth_trend(order, rms, roles_of(order))
    # within each role 10x per block over 5 blocks: 1e-5 from blocks.0 to blocks.5
    assert trend.ratio == pytest.approx(1e-5, rel=1e-9)
    assert trend.early_rms == pytest.approx((1e-8 + 1e-5) / 2)  # median of the groups' first layers


def test_one_odd_layer_does_not_move_the_trend():
    order = [f"body.{i}" for i in range(8)]
    rms = {n: 1e-3 for n in order}
    rms["body.0"] = 1e-9  # a single outlier
    trend = depth_trend(order, rms, roles_of(order))
    assert trend.ratio == pytest.approx(1.0)  # the median pairwise slope is 0


def test_blocked_layers_are_left_out_and_no_repeats_is_one_group():
    # zero gradients (a zero-gamma residual branch, a zero layer after them) are not vanishing
    order = ["stem", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2", "fc"]
    rms = {"stem": 1e-3, "fc": 1e-2, **{n: 0.0 for n in order[1:5]}}
    assert depth_trend(order, rms, roles_of(order)) is None  # the repeated layers are all blocked
    single = ["inp", "hidden", "out"]  # no role repeats: the whole profile is one group
    trend = depth_trend(single, {"inp": 1e-8, "hidden": 1e-6, "out": 1e-4}, roles_of(single))
    assert not trend.like_with_like and trend.ratio == pytest.approx(1e-4)
