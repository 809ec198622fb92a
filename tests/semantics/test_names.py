"""Names the way Python resolves them: star imports, ``__all__``, package re-exports."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from dllint.project import ProjectIndex
from dllint.semantics import FileSemantics
from dllint.semantics import namespace
from dllint.sources import Source
from tests.semantics.helpers import semantics


def _resolve(sem: FileSemantics, name: str):
    return sem.info.resolve_name(name, sem.info.scope)


def test_a_name_from_a_star_import_of_a_project_module_is_deferred_to_this_module() -> None:
    sem = semantics("from helpers import *\nfrom models import *\nnet = Net()\n", "train.py")
    assert _resolve(sem, "Net") == "train.Net"


def test_a_star_import_of_torch_gives_the_catalogued_name() -> None:
    sem = semantics("from torch.nn import *\nfrom models import *\n", "train.py")
    assert _resolve(sem, "Linear") == "torch.nn.Linear"
    assert _resolve(sem, "Module") == "torch.nn.Module"
    assert _resolve(sem, "Net") == "train.Net"


def test_builtins_and_library_star_imports_are_not_deferred() -> None:
    sem = semantics("from numpy import *\nfrom os.path import *\n", "train.py")
    assert _resolve(sem, "zeros") is None
    assert _resolve(sem, "len") == "builtins.len"
    assert _resolve(semantics("from models import *\n", "train.py"), "open") == "builtins.open"
    assert _resolve(semantics("from models import *\n", "train.py"), "ValueError") is None


def test_a_binding_of_the_file_wins_over_a_star_import() -> None:
    sem = semantics("from models import *\nclass Net:\n    pass\n", "train.py")
    assert _resolve(sem, "Net") == "train.Net"
    assert sem.local_class("train.Net") is not None


def test_without_a_project_star_import_an_unbound_name_is_unknown() -> None:
    assert _resolve(semantics("net = Net()\n", "train.py"), "Net") is None


def test_the_evaluator_builds_an_instance_named_for_the_index() -> None:
    sem = semantics("from models import *\nmodel = Net(3)\n", "train.py")
    call = next(site.node for site in sem.info.calls if isinstance(site.node.func, cst.Name))
    sem.traces  # noqa: B018
    callee = sem.observed(call)[0][0]
    assert getattr(callee, "qualified", None) == "train.Net"


def _package_semantics(tmp_path, files: dict[str, str]) -> dict[str, FileSemantics]:
    from dllint.engine import module_name_for

    found = {}
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for name, text in files.items():
        path = str(tmp_path / name)
        source = textwrap.dedent(text)
        found[name] = FileSemantics(cst.parse_module(source), Source(path, source), module_name_for(path))
    return found


def test_relative_imports_in_a_package_init_are_relative_to_the_package(tmp_path) -> None:
    sems = _package_semantics(tmp_path, {
        "pkg/__init__.py": "from .resnet import ResNet\nfrom . import layers\nfrom .blocks import *\n",
        "pkg/resnet.py": "", "pkg/layers.py": "", "pkg/blocks.py": "",
    })
    summary = sems["pkg/__init__.py"].summary
    assert summary.module == "pkg"
    assert summary.names == {"ResNet": "pkg.resnet.ResNet", "layers": "pkg.layers"}
    assert summary.star_imports == ("pkg.blocks",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("__all__ = ['A', 'B']\n", ("A", "B")),
        ("__all__ = ('A',)\n__all__ += ['B']\n__all__.append('C')\n__all__.extend(('D',))\n", ("A", "B", "C", "D")),
        ("__all__: list = ['A']\n", ("A",)),
        ("import m\n__all__ = m.__all__ + ['A']\n", None),
        ("__all__ = [name for name in dir()]\n", None),
        ("x = 1\n", None),
    ],
)
def test_all_is_read_when_the_file_spells_it_out(text: str, expected) -> None:
    assert namespace.exports(semantics(text).info) == expected


def test_a_summary_lists_what_the_module_binds() -> None:
    summary = semantics(
        "import torch.nn as nn\nfrom .blocks import Block as B\nfrom extra import *\n"
        "class Net(nn.Module):\n    pass\nAlias = Net\nSIZE = 3\ndef build():\n    return Net()\n",
        "pkg_models.py",
    ).summary
    assert summary.names == {
        "nn": "torch.nn", "B": "blocks.Block", "Net": "pkg_models.Net", "Alias": "pkg_models.Net",
        "SIZE": None, "build": "pkg_models.build",
    }
    assert summary.star_imports == ("extra",)
    assert summary.exported("Net") and not summary.exported("_hidden")
    assert summary.exported("Missing") is None  # what ``extra`` brings decides


def _index(tmp_path, files: dict[str, str]) -> tuple[ProjectIndex, dict[str, FileSemantics]]:
    sems = _package_semantics(tmp_path, files)
    return ProjectIndex.from_summaries(sem.summary for sem in sems.values()), sems


MODEL = "import torch.nn as nn\nclass {name}(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.rnn = nn.{layer}(4, 4)\n"


def test_the_index_follows_aliases_re_exports_and_star_imports(tmp_path) -> None:
    index, _ = _index(tmp_path, {
        "zoo/__init__.py": "from .nets import *\nfrom .nets import Recurrent as Default\n",
        "zoo/nets.py": "__all__ = ['Recurrent']\n" + MODEL.format(name="Recurrent", layer="LSTM")
                       + MODEL.format(name="Hidden", layer="Linear").split("\n", 1)[1],
        "train.py": "from zoo import *\n",
    })
    train = str(tmp_path / "train.py")
    assert index.lookup("zoo.Recurrent").qualified == "zoo.nets.Recurrent"
    assert index.lookup("zoo.Default").qualified == "zoo.nets.Recurrent"
    assert index.lookup("zoo.Hidden") is None  # not in __all__
    assert index.lookup("zoo.nets.Hidden").qualified == "zoo.nets.Hidden"
    assert index.lookup("train.Recurrent", train).qualified == "zoo.nets.Recurrent"
    assert index.seen_from(train).contains("train.Recurrent", "recurrent") is True
    assert index.lookup("train.Missing", train) is None


def test_one_module_name_in_two_folders_is_told_apart_by_the_file_that_asks(tmp_path) -> None:
    index, _ = _index(tmp_path, {
        "a/model.py": MODEL.format(name="Net", layer="GRU"),
        "b/model.py": MODEL.format(name="Net", layer="Linear"),
    })
    assert index.lookup("model.Net") is None  # which one: the run cannot tell
    assert index.lookup("model.Net", str(tmp_path / "a" / "train.py")).contains == frozenset({"recurrent", "gru"})
    assert index.seen_from(str(tmp_path / "b" / "train.py")).contains("model.Net", "recurrent") is False


def test_a_module_imported_from_above_the_runs_package_roots(tmp_path) -> None:
    """``from src.models import Net`` where ``src`` has no ``__init__.py``: the run names the
    module ``models``; it counts when the file sits in ``src``."""
    index, _ = _index(tmp_path, {"src/models.py": MODEL.format(name="Net", layer="GRU")})
    assert index.lookup("src.models.Net").qualified == "models.Net"


def test_a_dict_or_list_of_classes_is_summarised_with_its_values() -> None:
    summary = semantics(
        "from nets import UNet, ResNet\nimport nets\n"
        "MODELS = {'unet': UNet, 'resnet': nets.ResNet}\nPAIR = (UNet, ResNet)\n"
        "SIZES = {'a': 1, 'b': 2}\nONE = [UNet]\n",
        "zoo.py",
    ).summary
    assert summary.choices == {"MODELS": ("nets.UNet", "nets.ResNet"), "PAIR": ("nets.UNet", "nets.ResNet")}


def test_the_index_expands_a_wildcard_to_the_classes_a_module_or_a_dict_holds(tmp_path) -> None:
    index, _ = _index(tmp_path, {
        "nets/__init__.py": "from .rnn import *\nfrom .mlp import MLP\nMODELS = {'rnn': Recurrent, 'mlp': MLP}\n",
        "nets/rnn.py": MODEL.format(name="Recurrent", layer="LSTM"),
        "nets/mlp.py": MODEL.format(name="MLP", layer="Linear") + "class Config:\n    pass\n",
    })
    assert sorted(item.qualified for item in index.candidates("nets.*")) == ["nets.mlp.MLP", "nets.rnn.Recurrent"]
    assert sorted(item.qualified for item in index.candidates("nets.MODELS.*")) == ["nets.mlp.MLP", "nets.rnn.Recurrent"]
    assert index.contains("nets.*", "recurrent") is True
    assert index.contains("nets.mlp.*", "recurrent") is False
    assert index.candidates("elsewhere.*") is None
    assert index.lookup("nets.MODELS") is None


def test_a_model_picked_by_name_from_torchvision_is_a_zoo_model() -> None:
    sem = semantics(
        "import torchvision.models as models\nimport sys\n"
        "use(models.__dict__[sys.argv[1]]())\nuse(getattr(models, sys.argv[1])())\n",
        "main.py",
    )
    sem.traces  # noqa: B018
    calls = [site.node for site in sem.info.calls if isinstance(site.node.func, cst.Name) and site.node.func.value == "use"]
    models = [sem.observed(call)[0][1][0] for call in calls]
    assert [(type(m).__name__, getattr(m, "origin", None)) for m in models] == [("Instance", "zoo")] * 2


def test_a_function_is_found_through_re_exports_and_star_imports(tmp_path) -> None:
    engine = "import torch\n\ndef train_epoch(model, loader, optimizer):\n    model.train()\n    optimizer.step()\n"
    index, _ = _index(tmp_path, {
        "tools/__init__.py": "from .engine import train_epoch as fit\nfrom .engine import *\n",
        "tools/engine.py": engine,
        "a/engine.py": engine,
        "b/engine.py": engine,
        "main.py": "from tools import *\n",
    })
    assert index.lookup_function("tools.fit").qualified == "tools.engine.train_epoch"
    assert index.lookup_function("main.train_epoch", str(tmp_path / "main.py")).qualified == "tools.engine.train_epoch"
    assert index.lookup_function("engine.train_epoch") is None  # two scripts' engine.py: which one?
    summaries = {summary.filename: summary for summary in index._modules["engine"]}
    found = index.lookup_function("engine.train_epoch", str(tmp_path / "a" / "main.py"))
    assert found is summaries[str(tmp_path / "a" / "engine.py")].functions["engine.train_epoch"]
    assert index.lookup("tools.fit") is None  # a function, not a class


def test_a_star_import_of_a_project_module_named_like_a_package_of_another_framework() -> None:
    """Tutorials ship their own ``datasets.py``: a star import of it may be a file of the run."""
    assert _resolve(semantics("from datasets import *\n", "train.py"), "ImageDataset") == "train.ImageDataset"
    assert _resolve(semantics("from wandb import *\n", "train.py"), "Run") is None
