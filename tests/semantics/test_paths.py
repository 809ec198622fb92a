"""Paths, not merges: decided conditions, chosen conditions (one run per path), merged ones."""

from __future__ import annotations

from dllint.semantics import Instance
from tests.semantics.helpers import cls, layer_names, semantics


def sequentials(sem) -> list[list[str]]:
    """The distinct Sequentials the evaluation built, by their layers."""
    sem.traces, sem.forward_graphs  # noqa: B018 - the roots and every configuration build them
    built = {(id(c.node), *map(id, c.items)): c for c in sem.evaluator.containers if c.kind == "sequential"}
    return sorted(layer_names(container.items) for container in built.values())


def test_a_list_appended_to_in_both_arms_holds_one_append_per_path():
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, norm):
                super().__init__()
                layers = [nn.Linear(8, 8)]
                if norm == "batch":
                    layers.append(nn.BatchNorm1d(8))
                else:
                    layers.append(nn.LayerNorm(8))
                layers.append(nn.ReLU())
                self.net = nn.Sequential(*layers)

            def forward(self, x):
                return self.net(x)
        """
    )
    assert sequentials(sem) == [["Linear", "BatchNorm1d", "ReLU"], ["Linear", "LayerNorm", "ReLU"]]
    paths = sorted(instance.path for instance in sem.configurations(cls(sem, "Net")))
    assert paths == ['`norm == "batch"` is false', '`norm == "batch"` is true']


def test_a_condition_known_from_a_default_or_an_argument_runs_its_live_arm_only():
    sem = semantics(
        """
        import torch.nn as nn

        def block(cin, cout, normalize=True, dropout=0.0):
            layers = [nn.Conv2d(cin, cout, 3)]
            if normalize:
                layers.append(nn.BatchNorm2d(cout))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            return layers

        net = nn.Sequential(*block(3, 8, normalize=False), *block(8, 8, dropout=0.5))
        """
    )
    assert sequentials(sem) == [["Conv2d", "Conv2d", "BatchNorm2d", "Dropout"]]


def test_the_same_condition_is_the_same_choice_throughout_a_run():
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.a = nn.BatchNorm1d(4) if cfg.bn else nn.Identity()
                layers = []
                if not cfg.bn:
                    layers.append(nn.Dropout(0.1))
                self.b = nn.Sequential(*layers)

            def forward(self, x):
                return self.b(self.a(x))
        """
    )
    built = {
        (type(i.attrs["a"]).__name__, layer_names(i.attrs["b"].items)[0] if i.attrs["b"].items else None, i.attrs["a"].qualified)
        for i in sem.configurations(cls(sem, "Net"))
    }
    assert built == {("Layer", None, "torch.nn.BatchNorm1d"), ("Layer", "Dropout", "torch.nn.Identity")}


def test_a_condition_that_varies_per_iteration_keeps_both_arms_in_one_run():
    sem = semantics(
        """
        import torch

        def train(model, loader, optimizer, accumulate):
            for step, (x, y) in enumerate(loader):
                loss = model(x).sum()
                loss.backward()
                if step % accumulate == 0:
                    optimizer.step()
                    optimizer.zero_grad()
        """
    )
    trace = next(t for t in sem.traces if t.root is not None and t.root.name == "train")
    kinds = [event.kind for event in trace.events]
    assert kinds.count("backward") == 2 and "step" in kinds and trace.path == ""
    assert all(event.conditional for event in trace.events if event.kind == "step")


def test_branches_that_only_compute_values_do_not_multiply_runs():
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, verbose):
                super().__init__()
                if verbose:
                    print("building")
                self.fc = nn.Linear(4, 4)

            def forward(self, x, mask=None):
                if mask is not None:
                    x = x * mask
                return self.fc(x)
        """
    )
    configurations = sem.configurations(cls(sem, "Net"))
    assert len(configurations) == 1 and isinstance(configurations[0], Instance)
    assert len([g for g in sem.forward_graphs if g.cls is not None]) == 1


def test_a_try_whose_handler_builds_something_else_is_two_paths():
    sem = semantics(
        """
        import torch.nn as nn

        try:
            from apex.normalization import FusedLayerNorm as Norm
        except ImportError:
            Norm = nn.LayerNorm

        net = nn.Sequential(nn.Linear(4, 4), Norm(4))
        """
    )
    assert [t.path for t in sem.traces if t.root is None] == ["the `try` block completes", "the `try` block raises"]
    assert ["Linear", "LayerNorm"] in sequentials(sem)



def test_a_counter_of_a_partly_unrolled_loop_does_not_decide_a_condition():
    sem = semantics(
        """
        def train(model, loader, optimizer, print_every=40):
            steps = 0
            for x, y in loader:
                steps += 1
                model(x).sum().backward()
                optimizer.step()
                if steps % print_every == 0:
                    model.eval()
                    model.train()
        """
    )
    trace = next(t for t in sem.traces if t.root is not None and t.root.name == "train")
    assert any(event.kind == "eval" and event.conditional for event in trace.events)


def test_a_loop_over_a_known_list_decides_conditions_on_its_elements():
    sem = semantics(
        """
        import torch.nn as nn

        layers = []
        in_channels = 3
        for i, v in enumerate([64, "M", 128]):
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers.append(nn.Conv2d(in_channels, v, 3, padding=1))
                in_channels = v
        features = nn.Sequential(*layers)
        """
    )
    assert sequentials(sem) == [["Conv2d", "MaxPool2d", "Conv2d"]]


def test_an_optional_input_of_forward_decides_nothing():
    sem = semantics(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, norm_layer=None):
                super().__init__()
                if norm_layer is None:
                    norm_layer = nn.BatchNorm1d
                self.fc = nn.Linear(4, 4)
                self.norm = norm_layer(4)

            def forward(self, x, labels=None):
                out = self.norm(self.fc(x))
                loss = None
                if labels is not None:
                    loss = nn.BCEWithLogitsLoss()(out, labels)
                return out, loss
        """
    )
    (instance,) = sem.configurations(cls(sem, "Net"))
    assert instance.attrs["norm"].qualified == "torch.nn.BatchNorm1d"  # a constructor's None default decides
    assert [app.qualified for app in sem.loss_applications] == ["torch.nn.BCEWithLogitsLoss"]
