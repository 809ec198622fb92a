"""``dllint.probe.summary``: shapes, parameters, and receptive fields checked against values worked
out by hand (r_out = r_in + (k_eff - 1)·j_in, j_out = j_in·s, k_eff = d·(k - 1) + 1; residual adds
and concatenations take the maximum over their operands)."""

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from dllint.probe import summary
from probe_models import ResNet, UNet, ViT

SCHEMA_ROW = {"module", "type", "output_shape", "params", "trainable", "receptive_field", "jump"}


def rows_of(model, shape, **kw):
    return {row.module: row for row in summary(model, shape, **kw).layers}


def vgg16_features(width=4):
    # VGG-16's convolution layout (Simonyan & Zisserman 2015), narrow: channels do not change a
    # receptive field
    cfg = [1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v * width, 3, padding=1), nn.ReLU(inplace=True)]
            c = v * width
    return nn.Sequential(*layers)


def test_vgg16_blocks():
    rows = rows_of(vgg16_features(), (1, 3, 32, 32))
    convs = [name for name, row in rows.items() if row.type == "Conv2d"]
    pools = [name for name, row in rows.items() if row.type == "MaxPool2d"]
    # block 1 (jump 1): 3x3 convs add 2 each: 3, 5; the 2x2/2 pool adds (2-1)*1: 6, jump 2
    # block 2 (jump 2): 5 + ... = 6 + 2*2 = 10, 14; pool 14 + 1*2 = 16, jump 4
    # block 3 (jump 4): 16 + 8 = 24, 32, 40; pool 40 + 4 = 44, jump 8
    # block 4 (jump 8): 44 + 16 = 60, 76, 92; pool 92 + 8 = 100, jump 16
    # block 5 (jump 16): 100 + 32 = 132, 164, 196; pool 196 + 16 = 212, jump 32 (VGG-16's published 212)
    assert [rows[n].receptive_field[0] for n in convs] == [3, 5, 10, 14, 24, 32, 40, 60, 76, 92, 132, 164, 196]
    assert [rows[n].receptive_field for n in pools] == [[6, 6], [16, 16], [44, 44], [100, 100], [212, 212]]
    assert [rows[n].jump for n in pools] == [[2, 2], [4, 4], [8, 8], [16, 16], [32, 32]]
    assert rows[pools[-1]].output_shape == [1, 32, 1, 1]


def test_resnet18_stem_and_stages():
    rows = rows_of(ResNet(width=8), (2, 3, 64, 64))
    # stem: conv 7x7/2 -> 7, jump 2; max-pool 3x3/2 -> 7 + 2*2 = 11, jump 4
    assert (rows["conv1"].receptive_field, rows["conv1"].jump) == ([7, 7], [2, 2])
    assert (rows["maxpool"].receptive_field, rows["maxpool"].jump) == ([11, 11], [4, 4])
    # layer1 (jump 4): each 3x3 conv adds 2*4 = 8: 19, 27 (block 0, the add: max(27, 11) = 27), 35, 43
    assert [rows[f"layer1.{b}.conv{c}"].receptive_field[0] for b in (0, 1) for c in (1, 2)] == [19, 27, 35, 43]
    assert rows["layer1.0"].receptive_field == [27, 27] and rows["layer1"].receptive_field == [43, 43]
    # layer2: conv1 3x3/2 on 43 (jump 4): 43 + 8 = 51, jump 8; conv2: 51 + 16 = 67; the 1x1/2
    # shortcut keeps 43 (jump 8); the add takes max(67, 43) = 67; block 1: 83, 99
    assert (rows["layer2.0.conv1"].receptive_field, rows["layer2.0.conv1"].jump) == ([51, 51], [8, 8])
    assert rows["layer2.0.downsample.0"].receptive_field == [43, 43]
    assert rows["layer2.0"].receptive_field == [67, 67] and rows["layer2"].receptive_field == [99, 99]
    # layer3 (jump 16 after its first conv): 99 + 16 = 115, 115 + 32 = 147, 179, 211
    # layer4 (jump 32): 211 + 32 = 243, 243 + 64 = 307, 371, 435 (ResNet-18's published 435)
    assert [rows[f"layer{s}"].receptive_field[0] for s in (3, 4)] == [211, 435]
    assert rows["layer4"].jump == [32, 32] and rows["layer4"].output_shape == [2, 64, 2, 2]
    # global average pooling mixes all positions: no receptive field from there on
    assert rows["avgpool"].receptive_field is None and rows["fc"].jump is None
    assert rows["fc"].output_shape == [2, 10]


def test_dilated_convolutions():
    # Yu & Koltun 2016's context module: 3x3 convs with dilation 1, 2, 4, 8 -> k_eff 3, 5, 9, 17:
    # 1 + 2 = 3, 3 + 4 = 7, 7 + 8 = 15, 15 + 16 = 31 (2^(i+2) - 1)
    model = nn.Sequential(*(nn.Conv2d(2, 2, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)))
    rows = rows_of(model, (1, 2, 40, 40))
    assert [rows[str(i)].receptive_field for i in range(4)] == [[3, 3], [7, 7], [15, 15], [31, 31]]
    assert rows["3"].jump == [1, 1]


def test_unet_encoder_and_skip_concatenation():
    rows = rows_of(UNet(width=4, levels=3), (1, 3, 32, 32))
    # level 1 (jump 1): two 3x3 convs: 3, 5; pool 2x2/2: 6, jump 2
    # level 2 (jump 2): 6 + 4 = 10, 14; pool: 16, jump 4
    # level 3 (jump 4): 16 + 8 = 24, 32; pool: 36, jump 8
    # bottleneck (jump 8): 36 + 16 = 52, 68
    assert [rows[f"down.{i}"].receptive_field[0] for i in range(3)] == [5, 14, 32]
    assert [rows[f"down.{i}"].jump[0] for i in range(3)] == [1, 2, 4]
    assert rows["pool (call 3)"].receptive_field == [36, 36] and rows["pool (call 3)"].jump == [8, 8]
    assert rows["bottleneck"].receptive_field == [68, 68]
    # transposed conv 2x2/2: each output reads one input (k <= s): 68, jump 8 / 2 = 4; concatenated
    # with the level-3 skip (32, jump 4): max = 68; then two 3x3 convs at jump 4: 76, 84
    assert rows["up.0"].receptive_field == [68, 68] and rows["up.0"].jump == [4, 4]
    assert rows["dec.0.0"].receptive_field == [76, 76] and rows["dec.0"].receptive_field == [84, 84]


def test_anisotropic_kernels_strides_and_pooling():
    model = nn.Sequential(nn.Conv2d(1, 2, (1, 3), stride=(1, 2)), nn.Conv2d(2, 2, (3, 1)),
                          nn.AvgPool2d((2, 3), stride=(2, 1)), nn.Upsample(scale_factor=2, mode="nearest"))
    rows = rows_of(model, (1, 1, 16, 17))
    # conv (1, 3)/(1, 2): (1, 3), jump (1, 2); conv (3, 1): (1 + 2*1, 3) = (3, 3); avg-pool (2, 3)/(2, 1):
    # (3 + 1*1, 3 + 2*2) = (4, 7), jump (2, 2); nearest x2 upsampling: same field, jump halved
    assert (rows["0"].receptive_field, rows["0"].jump) == ([1, 3], [1, 2])
    assert rows["1"].receptive_field == [3, 3]
    assert (rows["2"].receptive_field, rows["2"].jump) == ([4, 7], [2, 2])
    assert (rows["3"].receptive_field, rows["3"].jump) == ([4, 7], [1, 1])


class SqueezeExcite(nn.Module):
    def __init__(self, c=4):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.fc = nn.Linear(c, c)

    def forward(self, x):
        x = self.conv(x)
        gate = torch.sigmoid(self.fc(x.mean((2, 3)))).view(x.shape[0], -1, 1, 1)
        return x * gate  # every position now depends on all of them


def test_null_where_positions_mix():
    se = rows_of(SqueezeExcite(), (1, 3, 8, 8))
    assert se["conv"].receptive_field == [3, 3] and se[""].receptive_field is None
    vit = rows_of(ViT(), (2, 3, 16, 16))
    # the patch embedding is a 4x4/4 conv: field 4, jump 4; flattened into tokens and attended over
    assert vit["conv_proj"].receptive_field == [4, 4] and vit["conv_proj"].jump == [4, 4]
    assert vit["encoder.layers.0.self_attention"].receptive_field is None
    flat = rows_of(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3)), (1, 3, 8, 8))
    assert flat["0"].receptive_field == [3, 3] and flat["1"].receptive_field is None
    tokens = rows_of(nn.Embedding(10, 4), (2, 5), dtypes=torch.long)  # no spatial input
    assert tokens[""].output_shape == [2, 5, 4] and tokens[""].receptive_field is None


def test_parameters_shapes_calls_and_json():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    model[0].requires_grad_(False)
    model.train()
    result = summary(model, (2, 3, 10, 10))
    assert model.training and model[0].training  # modes restored after the eval-mode pass
    assert result.total_params == 3 * 4 * 9 + 4 + 4 * 4 * 9 + 4 and result.trainable_params == 4 * 4 * 9 + 4
    rows = {row.module: row for row in result.layers}
    assert (rows["0"].params, rows["0"].trainable) == (112, 0) and rows[""].params == result.total_params
    assert rows["2"].output_shape == [2, 4, 6, 6] and rows["2"].receptive_field == [5, 5]
    data = json.loads(result.to_json())
    assert set(data) == {"input_shape", "total_params", "layers"} and data["input_shape"] == [2, 3, 10, 10]
    assert all(set(layer) == SCHEMA_ROW for layer in data["layers"])
    assert "frozen" in str(result) and "112" in str(result)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return self.conv(F.relu(self.conv(x)))

    twice = rows_of(Twice(), (1, 2, 8, 8))
    assert twice["conv"].receptive_field == [3, 3] and twice["conv (call 2)"].receptive_field == [5, 5]


def test_summary_needs_a_module_and_an_input():
    with pytest.raises(TypeError):
        summary("not a model", (1, 3))
    with pytest.raises(TypeError):
        summary(nn.Linear(2, 2))


def test_dllint_probe_summary_stays_the_function():
    import importlib

    import dllint.probe

    importlib.import_module("dllint.probe.model_summary")  # what the CLI imports
    assert callable(dllint.probe.summary) and dllint.probe.summary is summary
