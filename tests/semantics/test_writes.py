"""Initialisation in order: which write to a parameter is the last (semantics/writes.py)."""

from tests.semantics.helpers import semantics


def _verdicts(sem):
    """{line of an init write: [superseded?] per layer/tensor it reaches}, reached at a known moment."""
    timeline = sem.init_timeline
    positions = sem.positions()
    found = {}
    for write in sem.init_writes:
        verdicts = [timeline.superseded(write, t) for t in timeline.written(write) if t.at is not None and t.parameter in ("weight", "")]
        if verdicts:
            found[positions[write.node].start.line] = verdicts
    return found


def test_a_parents_apply_at_the_end_of_init_replaces_a_submodules_zero():
    sem = semantics(
        """
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.fc = nn.Linear(d, d)
                nn.init.zeros_(self.fc.weight)

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block(16)
                self.apply(self._init_weights)

            def _init_weights(self, m):
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=0.02)
        """
    )
    verdicts = _verdicts(sem)
    # line 8 reaches the Block built in Model, replaced by the apply after it, and Block's
    # defaults, which stand for the Blocks the file builds: replaced as well
    assert verdicts[8] == [True, True]
    assert verdicts[18] == [False]


def test_a_write_after_an_init_loop_is_the_final_one():
    sem = semantics(
        """
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(8, 8)
                self.fc2 = nn.Linear(8, 1)
                for m in self.modules():
                    if isinstance(m, nn.Linear):
                        nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(self.fc1.weight)
        """
    )
    verdicts = _verdicts(sem)
    assert sorted(verdicts[11]) == [False, True]  # fc2 keeps it, fc1 is zeroed after
    assert verdicts[12] == [False]


def test_reset_parameters_and_a_new_parameter_replace_earlier_writes():
    sem = semantics(
        """
        import torch
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(8, 8)
                self.b = nn.Linear(8, 8)
                nn.init.constant_(self.a.weight, 0.5)
                self.rnn = nn.LSTM(8, 8)
                nn.init.zeros_(self.rnn.weight_hh_l0)
                self.a.reset_parameters()
                self.rnn.reset_parameters()
                nn.init.normal_(self.b.weight)
                self.b.weight = nn.Parameter(torch.randn(8, 8) * 0.1)
        """
    )
    timeline = sem.init_timeline
    lstm = next(w for w in sem.init_writes if w.name == "zeros_")
    assert [timeline.superseded(lstm, t) for t in timeline.written(lstm)] == [True]
    assert _verdicts(sem) == {10: [True], 15: [True]}
    (key, entry), = sem.init_timeline.assignments()
    assert sem.init_timeline.final(key) is entry


def test_hugging_face_post_init_and_timm_named_apply_run_the_init_function_last():
    sem = semantics(
        """
        import torch.nn as nn
        from timm.layers import trunc_normal_
        from timm.models import named_apply
        from transformers import PreTrainedModel

        class PreTrained(PreTrainedModel):
            def _init_weights(self, module):
                if isinstance(module, nn.Linear):
                    module.weight.data.normal_(mean=0.0, std=0.02)

        class Encoder(PreTrained):
            def __init__(self, config):
                super().__init__(config)
                self.dense = nn.Linear(8, 8)
                nn.init.normal_(self.dense.weight)
                self.post_init()

        def init_weights_vit_timm(module, name=""):
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)

        class ViT(nn.Module):
            def __init__(self):
                super().__init__()
                self.head = nn.Linear(8, 8)
                nn.init.zeros_(self.head.weight)
                named_apply(init_weights_vit_timm, self)
        """
    )
    verdicts = _verdicts(sem)
    assert verdicts[16] == [True]
    assert verdicts[27] == [True]
    assert verdicts[10] == verdicts[21] == [False]


def test_a_write_whose_moment_is_unknown_replaces_nothing():
    sem = semantics(
        """
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 8)
                nn.init.zeros_(self.fc.weight)

            def reset_parameters(self):
                nn.init.xavier_uniform_(self.fc.weight)
        """
    )
    assert _verdicts(sem) == {8: [False]}
