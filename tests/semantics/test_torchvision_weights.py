"""torchvision weights enums and their ``transforms()`` presets are no models (``catalog.weights_call``)."""

from __future__ import annotations

import pytest

from dllint.semantics import Instance
from dllint.semantics.catalog import weights_call
from dllint.semantics.values import Obj, Reference
from tests.semantics.helpers import semantics


@pytest.mark.parametrize(
    ("qualified", "expected"),
    [
        ("torchvision.models.EfficientNet_B2_Weights.DEFAULT.transforms", "preset"),
        ("torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms", "preset"),
        ("torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.DEFAULT.transforms", "preset"),
        ("torchvision.models.WeightsEnum.transforms", "preset"),
        ("torchvision.models.get_weight", "member"),
        ("torchvision.models.get_model_weights", "member"),
        ("torchvision.models.ResNet50_Weights", "member"),
        ("torchvision.models.ResNet50_Weights.verify", "member"),
        ("torchvision.models.ResNet50_Weights.DEFAULT.get_state_dict", "other"),
        ("torchvision.models.resnet50", None),
        ("torchvision.models.get_model", None),
        ("torchvision.transforms.Compose", None),
        ("mylib.ResNet50_Weights.DEFAULT.transforms", None),
    ],
)
def test_weights_calls(qualified: str, expected) -> None:
    assert weights_call(qualified) == expected


def _called(text: str) -> dict[str, object]:
    """What each name called in ``predict`` holds there."""
    sem = semantics(text)
    found = {}
    for trace in sem.traces:
        for event in trace.events:
            func = getattr(event.node, "func", None)
            if event.kind == "forward" and hasattr(func, "value") and isinstance(func.value, str):
                found[func.value] = event.target
    return found


def test_a_weights_preset_is_a_transform_and_the_network_a_zoo_model() -> None:
    called = _called(
        """
        import torch
        import torchvision
        from torchvision.models import ResNet50_Weights, get_weight

        weights = torchvision.models.EfficientNet_B2_Weights.DEFAULT
        preset = weights.transforms()
        chained = ResNet50_Weights.IMAGENET1K_V1.transforms()
        named = get_weight("ResNet50_Weights.IMAGENET1K_V2").transforms()
        looked_up = torchvision.models.get_model_weights("resnet50").DEFAULT.transforms()
        net = torchvision.models.efficientnet_b2(weights=weights)


        def predict(img):
            x = looked_up(named(chained(preset(img))))
            with torch.no_grad():
                return net(x).argmax(1)
        """
    )
    for name in ("preset", "chained", "named", "looked_up"):
        assert isinstance(called[name], Obj) and called[name].qualified == "torchvision.transforms._presets", name
    assert isinstance(called["net"], Instance) and called["net"].origin == "zoo"


def test_get_weight_gives_a_weights_member() -> None:
    sem = semantics(
        """
        from torchvision.models import get_weight, resnet50

        weights = get_weight("ResNet50_Weights.DEFAULT")
        model = resnet50(weights=weights)


        def predict(img):
            return model(img).argmax(1)
        """
    )
    value = sem.evaluator._global("weights", sem.info.scope)
    assert isinstance(value, Reference) and value.qualified == "torchvision.models.WeightsEnum"
