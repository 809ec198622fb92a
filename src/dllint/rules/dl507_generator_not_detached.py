from __future__ import annotations

from typing import Iterator

from dllint.rules.base import Option, Report, Rule
from dllint.semantics import FileSemantics
from dllint.semantics.adversarial import DiscriminatorStep
from dllint.semantics.syntax import source_text


class GeneratorNotDetached(Rule):
    """
    ## What it does
    Flags the discriminator call of a GAN's discriminator step — `netD(fake)` in
    `errD = criterion(netD(fake), fake_label)` — when the generator's output reaches it without
    `.detach()` (nor `torch.no_grad()`, nor the generator frozen with `requires_grad_(False)`),
    that loss is backpropagated, and the generator's optimizer steps afterwards with nothing
    clearing the generator's gradients between that `backward()` and its `step()`.

    The roles come from the dataflow, not the names: the discriminator step is a backward
    through one model's call into another model's output, followed by the step of an optimizer
    that updates the first model only, in a loop that also has the generator's own step (a
    backward through both models, followed by the step of an optimizer over the generator).
    Models, optimizers and losses are followed through variables, helper functions and methods
    of the same file, and through Accelerate (`accelerator.prepare`, `accelerator.backward`) and
    Lightning's manual optimisation (`self.optimizers()`, `self.manual_backward`;
    `self.toggle_optimizer(opt_d)` freezes the generator like `requires_grad_(False)`).

    Not flagged: `fake.detach()` (or `fake.data`, `Variable(fake.data)`); generation under
    `torch.no_grad()`; `G.requires_grad_(False)` (or `p.requires_grad = False` over its
    parameters) during the discriminator step; WGAN-GP's gradient penalty on interpolates
    between real and detached fake samples; a single joint loss by design, backpropagated once
    with both optimizers stepping (such as an adversarial autoencoder trained end to end); an
    undetached discriminator step whose generator gradients are cleared before the generator's
    step — only a wasted backward pass, reported with `report-wasted-backward`.

    ## Why is this bad?
    The discriminator's loss rewards it for telling generated samples from real ones. Its
    gradient with respect to the generator's parameters points the generator towards samples
    the discriminator finds *easier* to reject. When that gradient is left in the generator's
    `.grad` and its optimizer steps, the generator is updated partly to help its adversary —
    the opposite of the minimax game — so it learns more slowly, or oscillates, or collapses.
    (When the gradients are cleared before the generator's step, the only cost is a backward
    pass through the generator that is thrown away.)

    ## Example
    ```python
    import torch
    import torch.nn as nn

    netG = nn.Sequential(nn.Linear(100, 784), nn.Tanh())
    netD = nn.Sequential(nn.Linear(784, 1), nn.Sigmoid())
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4)
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4)
    for real, _ in loader:
        optimizerD.zero_grad()
        optimizerG.zero_grad()
        fake = netG(torch.randn(real.size(0), 100))
        errD = criterion(netD(real), torch.ones(real.size(0), 1)) + criterion(netD(fake), torch.zeros(real.size(0), 1))
        errD.backward(retain_graph=True)
        optimizerD.step()
        errG = criterion(netD(fake), torch.ones(real.size(0), 1))
        errG.backward()
        optimizerG.step()
    ```

    ## Use instead
    ```python
    import torch
    import torch.nn as nn

    netG = nn.Sequential(nn.Linear(100, 784), nn.Tanh())
    netD = nn.Sequential(nn.Linear(784, 1), nn.Sigmoid())
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4)
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4)
    for real, _ in loader:
        optimizerD.zero_grad()
        fake = netG(torch.randn(real.size(0), 100))
        errD = criterion(netD(real), torch.ones(real.size(0), 1)) + criterion(netD(fake.detach()), torch.zeros(real.size(0), 1))
        errD.backward()
        optimizerD.step()
        optimizerG.zero_grad()
        errG = criterion(netD(fake), torch.ones(real.size(0), 1))
        errG.backward()
        optimizerG.step()
    ```

    ## Options
    - `report-wasted-backward` (bool, default false): also flag an undetached discriminator
      step whose generator gradients are cleared before the generator's step (by
      `optimizerG.zero_grad()` or `netG.zero_grad()`): harmless to training, but a backward pass
      through the generator is computed and thrown away on every discriminator step.

    ## References
    - Goodfellow et al., [Generative Adversarial Nets](https://arxiv.org/abs/1406.2661), 2014 (Algorithm 1: the discriminator is updated with the generator fixed, then the generator with the discriminator fixed)
    - [PyTorch tutorial: DCGAN](https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html) (the discriminator is trained on `fake.detach()`)
    - [PyTorch: torch.Tensor.detach](https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html)
    """

    code = "DL507"
    name = "generator-not-detached"
    summary = "GAN discriminator step whose loss also trains the generator"
    options = {
        "report-wasted-backward": Option(
            False, "Also flag an undetached discriminator step whose generator gradients are cleared before the generator's step"
        ),
    }

    def check(self, sem: FileSemantics) -> Iterator[Report]:
        by_call: dict[int, list[DiscriminatorStep]] = {}
        for step in sem.discriminator_steps:
            by_call.setdefault(id(step.discriminator.node), []).append(step)
        for steps in by_call.values():
            harmful = [step for step in steps if not step.cleared]
            if harmful:
                yield Report(steps[0].discriminator.node, _harmful(harmful[0]))
            elif self.settings["report-wasted-backward"]:
                yield Report(steps[0].discriminator.node, _wasted(steps[0]))


def _harmful(step: DiscriminatorStep) -> str:
    return (
        f"`{source_text(step.discriminator.node)}` scores the generator's output (`{source_text(step.generator.node)}`) without "
        f"`.detach()` in the discriminator's step: `{source_text(step.backward.node)}` also fills the generator's gradients, "
        f"and nothing clears them before `{source_text(step.generator_step.node)}` applies them — the generator is updated "
        "to help the discriminator; pass the generated samples detached here (`fake.detach()`), or generate them "
        "under `torch.no_grad()` for this step"
    )


def _wasted(step: DiscriminatorStep) -> str:
    return (
        f"`{source_text(step.discriminator.node)}` scores the generator's output (`{source_text(step.generator.node)}`) without "
        f"`.detach()` in the discriminator's step: `{source_text(step.backward.node)}` backpropagates through the generator "
        f"for nothing (its gradients are cleared before `{source_text(step.generator_step.node)}`) — pass `fake.detach()` "
        "here to skip that backward pass"
    )
