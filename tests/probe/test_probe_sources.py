"""Source locations: the statement that built a module, read from its owning class with ast."""

from torch import nn

from dllint.probe.sources import SourceMap


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)  # LINE_FC
        self.add_module("extra", nn.ReLU())  # LINE_EXTRA
        self.seq = nn.Sequential(
            nn.Linear(4, 4),  # LINE_SEQ0
            nn.Tanh(),  # LINE_SEQ1
        )
        nn.init.zeros_(self.fc.bias)  # LINE_INIT

    def forward(self, x):
        return self.seq(self.extra(self.fc(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block() for _ in range(2)])  # LINE_BLOCKS
        self.enc = nn.TransformerEncoderLayer(8, 2, batch_first=True)  # LINE_ENC

    def forward(self, x):
        return x


def _line(tag):
    with open(__file__) as fh:
        return next(i for i, text in enumerate(fh, 1) if text.rstrip().endswith("# " + tag))


def test_locations():
    smap = SourceMap(Net())
    assert smap.location("blocks.0.fc")["row"] == _line("LINE_FC")
    assert smap.location("blocks.1.extra")["row"] == _line("LINE_EXTRA")
    assert smap.location("blocks.0.seq.1")["row"] == _line("LINE_SEQ1")
    assert smap.location("blocks.0.seq.0")["row"] == _line("LINE_SEQ0")
    assert smap.location("blocks.1")["row"] == _line("LINE_BLOCKS")  # built in a comprehension
    # inside torch's own class: the user's line that built the torch module
    assert smap.location("enc.linear1")["row"] == _line("LINE_ENC")
    assert smap.location("enc.self_attn.out_proj")["row"] == _line("LINE_ENC")
    assert smap.location("blocks.0.seq")["filename"].endswith("test_probe_sources.py")
    f, rows = smap.rows("blocks.0.fc")
    assert _line("LINE_INIT") in rows and _line("LINE_FC") in rows


def test_factory_built_sequential():
    def factory():
        return nn.Sequential(
            nn.Linear(3, 3),
            nn.Sigmoid(),  # LINE_FACTORY
        )

    smap = SourceMap(factory(), factory=factory)
    assert smap.location("1")["row"] == _line("LINE_FACTORY")
    assert SourceMap(factory()).location("1") is None  # no factory, no guess
