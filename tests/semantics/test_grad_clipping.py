"""Gradient clipping written by hand: a clamp of every parameter's gradient in a loop, or a
rescale of every gradient by a factor computed from their norm, clips; a clamp of the weights,
of one tensor's gradient, or a rescale by a factor that is no norm does not."""

from __future__ import annotations

from dllint.semantics.grad_clipping import clips_gradients
from tests.semantics.helpers import semantics


def _clipping_lines(text: str) -> set[int]:
    sem = semantics(text)
    return {sem.positions([site.node])[site.node].start.line for site in sem.info.calls if clips_gradients(site)}


def test_a_clamp_of_every_gradient_clips() -> None:
    assert _clipping_lines(
        """
        def clip_gradient(model, clip):
            for p in model.parameters():
                p.grad.data.clamp_(-clip, clip)
            for name, p in model.named_parameters():
                p.grad.clamp_(min=-clip, max=clip)
                p.grad.clip_(-clip, clip)
        """
    ) == {4, 6, 7}


def test_a_rescale_by_a_factor_computed_from_the_norm_clips() -> None:
    assert _clipping_lines(
        """
        def clip_by_norm(params, max_norm):
            total = 0.0
            for p in params:
                total += p.grad.data.norm(2).item() ** 2
            coef = max_norm / (total ** 0.5 + 1e-6)
            if coef < 1:
                for p in params:
                    p.grad.data.mul_(coef)
                    p.grad.detach().div_(1.0 / coef)


        def d2l_clipping(params, theta):
            norm = sum((p.grad ** 2).sum() for p in params).sqrt().item()
            if norm > theta:
                for param in params:
                    param.grad.data.mul_(theta / norm)
        """
    ) == {9, 10, 17}


def test_weights_one_gradient_and_other_rescales_are_no_clipping() -> None:
    assert _clipping_lines(
        """
        def not_clipping(model, images, accumulation_steps, scale):
            for p in model.parameters():
                p.data.clamp_(-0.01, 0.01)
                p.grad.data.mul_(1.0 / accumulation_steps)
                p.grad.div_(scale)
            images.grad.clamp_(-1, 1)
            model.fc.weight.grad.clamp_(-1, 1)
            for p in model.parameters():
                images.grad.clamp_(-1, 1)
        """
    ) == set()
