"""Module-level models as the functions that read them see them: the module body's calls of
the function carry the mode the body left the model in; the function's own run starts from the
model as its assignment built it (in eval mode when the assignment chains ``.eval()``)."""

from __future__ import annotations

from dllint.semantics.module_models import deciding_views, reads_module_variable
from tests.semantics.helpers import semantics


def _views(text: str):
    """(line, mode, from the module body, reads a module variable) of every forward event."""
    sem = semantics(text)
    views = []
    for trace in sem.traces:
        for event in trace.events:
            if event.kind == "forward":
                line = sem.positions([event.node])[event.node].start.line
                views.append((line, event.mode, trace.root is None, reads_module_variable(event)))
    return sorted(set(views))


def _deciding_modes(text: str) -> dict[int, list[str]]:
    sem = semantics(text)
    by_node: dict[int, list] = {}
    for trace in sem.traces:
        for event in trace.events:
            if event.kind == "forward":
                by_node.setdefault(id(event.node), []).append((trace, event))
    return {
        sem.positions([views[0][1].node])[views[0][1].node].start.line: sorted(e.mode for e in deciding_views(views))
        for views in by_node.values()
    }


MODULE_EVAL_BEFORE_CALL = """
from torchvision import models

detection = models.detection.maskrcnn_resnet50_fpn(pretrained=True)
detection.eval()


def predict(img):
    return detection([img])


masks = predict(None)
"""


def test_the_module_body_calling_the_function_sees_the_mode_it_set() -> None:
    assert _views(MODULE_EVAL_BEFORE_CALL) == [(9, "eval", True, True), (9, "train", False, True)]
    assert _deciding_modes(MODULE_EVAL_BEFORE_CALL) == {9: ["eval"]}


def test_eval_after_the_call_leaves_the_call_in_train_mode() -> None:
    text = """
    from torchvision import models

    detection = models.detection.maskrcnn_resnet50_fpn(pretrained=True)


    def predict(img):
        return detection([img])


    masks = predict(None)
    detection.eval()
    """
    assert _deciding_modes(text) == {8: ["train"]}


def test_a_function_the_module_body_never_calls_is_judged_from_its_own_run() -> None:
    text = """
    from torchvision import models

    detection = models.detection.maskrcnn_resnet50_fpn(pretrained=True)
    detection.eval()


    def predict(img):
        return detection([img])
    """
    assert _deciding_modes(text) == {9: ["train"]}


def test_an_eval_chained_to_the_assignment_comes_with_the_variable() -> None:
    text = """
    from torchvision import models

    detection = models.detection.maskrcnn_resnet50_fpn(pretrained=True).eval()


    def predict(img):
        return detection([img])
    """
    assert _views(text) == [(8, "eval", False, True)]


def test_a_local_model_or_a_parameter_is_no_module_variable() -> None:
    text = """
    from torchvision import models

    detection = models.detection.maskrcnn_resnet50_fpn(pretrained=True)


    def predict(model, img):
        detection = models.resnet18()
        return detection(img), model(img)


    out = detection(None)
    """
    assert {(line, reads) for line, _, _, reads in _views(text)} == {(9, False), (12, False)}
