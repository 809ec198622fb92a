"""A missing clip in a framework-run loop is reported where the user sets it, with the
framework's own way to clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import lint_text

FIXTURES = Path(__file__).parent / "fixtures" / "DL501"


def _messages(name: str) -> dict[int, str]:
    path = FIXTURES / name
    return {f.location.row: f.message for f in lint_text(path.read_text(), ["DL501"], filename=str(path))}


@pytest.mark.parametrize(
    ("fixture", "row", "wanted"),
    [
        ("lightning_unclipped.py", 50, ["this Lightning `Trainer`", "`LitLanguageModel.training_step`", "pass `gradient_clip_val=1.0` to the `Trainer`"]),
        ("lightning_unclipped.py", 64, ["`gradient_clip_val` is the default `--gradient_clip_val 0.0`"]),
        ("lightning_manual_unclipped.py", 21, ["`self.clip_gradients(optimizer, gradient_clip_val=1.0"]),
        ("accelerate_fabric_unclipped.py", 30, ["`accelerator.clip_grad_norm_(model.parameters(), max_norm)`"]),
        ("accelerate_fabric_unclipped.py", 45, ["`fabric.clip_gradients(model, optimizer, max_norm=1.0)`"]),
        ("hf_trainer_unclipped.py", 21, ["this Hugging Face `Trainer`", "(`max_grad_norm=0.0`)", "`TrainingArguments`"]),
        ("deepspeed_fsdp_unclipped.py", 26, ["this DeepSpeed engine", "its config sets no `gradient_clipping`", '`"gradient_clipping": 1.0`']),
        ("deepspeed_fsdp_unclipped.py", 45, ["`torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)`"]),
    ],
)
def test_message_names_the_frameworks_clipping(fixture: str, row: int, wanted: list[str]) -> None:
    message = _messages(fixture)[row]
    for text in wanted:
        assert text in message
