"""Probe overhead on a training loop: with vs without the probe, interleaved.

    python benchmarks/probe_overhead.py                # small CNN, default sampling (every=10), CPU
    python benchmarks/probe_overhead.py --model resnet18 --threads 1
    python benchmarks/probe_overhead.py --model vit --threads 1
    python benchmarks/probe_overhead.py --every 1 --rounds 10 --json out.json
    python benchmarks/probe_overhead.py --device cuda --batch 256 --width 64

Models (``--model``): ``cnn``, a small CNN with BatchNorm and dropout (``--width`` channels first,
SGD with momentum); ``resnet18``, torchvision's ``resnet18`` when torchvision is installed, else the
same layout and init built in ``tests/probe/probe_models.py`` (``ResNet()``: stem 7x7/2 + max-pool,
four stages of two BasicBlocks, 11.2M parameters; SGD with momentum and weight decay); ``vit``, a
small ViT (``probe_models.ViT``: patch 4, width 192, 6 blocks of 3 heads, MLP 768, zero-initialised
head, 2.7M parameters; AdamW). Input ``--batch x 3 x --size x --size`` (defaults per model below).

Two identical models (same init, same batches) train in alternating blocks of steps, one with a
``Probe(every=N)`` attached for the whole run and one without; the order of the two blocks
alternates each round so drift in machine load hits both. On CUDA every timed step ends with
``torch.cuda.synchronize()``, so a step's time is the GPU's work, not just the kernel launches.
Reported:

* the median over rounds of (time per step with probe) / (time per step without) — the
  amortised overhead at that sampling;
* the cost of a sampled step on its own: the median time of the probed model's sampled steps
  over the median time of its unsampled steps (and over the plain model's steps);
* what sampling adds on average at that sampling, from the medians: 1 + (sampled / unsampled - 1)
  / every (an unsampled step adds a counter and one op: ``--every 100000`` measures that part), and
  (one sampled + every-1 unsampled) / (every plain) steps; both steadier than the per-round ratio
  on a machine shared with other jobs.

Targets: a sampled step <= 1.3x an unsampled one; <= 1.03x on average at the default sampling
(every=10). This is a benchmark, not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "src"))
sys.path.insert(0, os.path.join(ROOT, "tests", "probe"))
from dllint.probe import Probe  # noqa: E402
from probe_models import ResNet, ViT  # noqa: E402

# per model: default batch and image size, optimizer
DEFAULTS = {"cnn": (32, 32), "resnet18": (16, 64), "vit": (16, 32)}


class SmallCNN(nn.Module):
    def __init__(self, classes=10, width=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1, bias=False), nn.BatchNorm2d(4 * width), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x):
        return self.fc(self.dropout(torch.flatten(self.features(x), 1)))


def build(name: str, width: int):
    """(model factory, description, make_optimizer)."""
    if name == "cnn":
        return (lambda: SmallCNN(width=width)), f"small CNN (width {width})", \
            (lambda p: torch.optim.SGD(p, 0.05, momentum=0.9))
    if name == "resnet18":
        try:
            from torchvision.models import resnet18

            make, what = (lambda: resnet18(num_classes=10)), "torchvision resnet18"
        except ImportError:
            make, what = ResNet, "resnet18 (probe_models.ResNet, torchvision's layout; torchvision not installed)"
        return make, what, (lambda p: torch.optim.SGD(p, 0.05, momentum=0.9, weight_decay=5e-4))
    if name == "vit":
        return (lambda: ViT(image=32, patch=4, d=192, depth=6, heads=3, mlp=768)), \
            "ViT (patch 4, width 192, 6 blocks, 3 heads)", (lambda p: torch.optim.AdamW(p, 1e-3))
    raise SystemExit(f"unknown model {name!r}: cnn, resnet18 or vit")


def step(model, opt, x, y, probe=None):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if probe is not None:
        probe.step(loss)
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--block", type=int, default=20, help="steps per block (a multiple of --every)")
    ap.add_argument("--model", default="cnn", choices=sorted(DEFAULTS))
    ap.add_argument("--batch", type=int, default=None, help="batch size (cnn 32, resnet18 16, vit 16)")
    ap.add_argument("--size", type=int, default=None, help="image size (cnn 32, resnet18 64, vit 32)")
    ap.add_argument("--width", type=int, default=32, help="channels of the first convolution")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ...")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.batch = args.batch or DEFAULTS[args.model][0]
    args.size = args.size or DEFAULTS[args.model][1]
    make, what, make_opt = build(args.model, args.width)
    torch.manual_seed(0)
    device = torch.device(args.device)
    plain = make().to(device)
    probed = make().to(device)
    probed.load_state_dict(plain.state_dict())
    opt_a = make_opt(plain.parameters())
    opt_b = make_opt(probed.parameters())
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(args.batch, 3, args.size, args.size, generator=g).to(device),
                torch.randint(0, 10, (args.batch,), generator=g).to(device)) for _ in range(args.block)]

    for _ in range(5):  # warm-up both (allocator, kernels)
        step(plain, opt_a, *batches[0])
        step(probed, opt_b, *batches[0])

    ratios, plain_steps, sampled, unsampled = [], [], [], []
    with Probe(probed, every=args.every) as probe:
        for r in range(args.rounds):
            order = ("plain", "probed") if r % 2 == 0 else ("probed", "plain")
            per = {}
            for which in order:
                total = 0.0
                for x, y in batches:
                    is_sampled = which == "probed" and probe.steps % args.every == 0
                    t0 = time.perf_counter()
                    if which == "plain":
                        step(plain, opt_a, x, y)
                    else:
                        step(probed, opt_b, x, y, probe)
                    dt = time.perf_counter() - t0
                    total += dt
                    if which == "plain":
                        plain_steps.append(dt)
                    else:
                        (sampled if is_sampled else unsampled).append(dt)
                per[which] = total / len(batches)
            ratios.append(per["probed"] / per["plain"])
    report = probe.report()
    result = {
        "model": what,
        "parameters": sum(p.numel() for p in plain.parameters()),
        "every": args.every,
        "rounds": args.rounds,
        "steps_per_block": args.block,
        "batch": [args.batch, 3, args.size, args.size],
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "width": args.width,
        "torch": torch.__version__,
        "plain_step_ms_median": 1e3 * statistics.median(plain_steps),
        "median_ratio": statistics.median(ratios),
        "ratio_quartiles": [statistics.quantiles(ratios, n=4)[0], statistics.quantiles(ratios, n=4)[2]],
        "sampled_step_ms_median": 1e3 * statistics.median(sampled),
        "unsampled_step_ms_median": 1e3 * statistics.median(unsampled) if unsampled else None,
        "sampled_vs_unsampled": statistics.median(sampled) / statistics.median(unsampled) if unsampled else None,
        "sampled_vs_plain": statistics.median(sampled) / statistics.median(plain_steps),
        "amortised_from_medians": ((statistics.median(sampled) + (args.every - 1) * statistics.median(unsampled))
                                   / (args.every * statistics.median(plain_steps))) if unsampled else None,
        "sampling_cost": (1 + (statistics.median(sampled) / statistics.median(unsampled) - 1) / args.every)
                         if unsampled else None,
        "sampled_steps": len(sampled),
        "probe_findings": report.codes,
    }
    print(f"{what}, batch {args.batch}x3x{args.size}x{args.size}, on {result['device']}, "
          f"{result['threads']} thread(s), torch {torch.__version__}")
    print(f"plain step: {result['plain_step_ms_median']:.2f} ms (median)")
    print(f"with Probe(every={args.every}): median ratio {result['median_ratio']:.3f}x over {args.rounds} interleaved "
          f"rounds (quartiles {result['ratio_quartiles'][0]:.3f}-{result['ratio_quartiles'][1]:.3f})")
    if unsampled:
        print(f"a sampled step: {result['sampled_step_ms_median']:.2f} ms = {result['sampled_vs_unsampled']:.2f}x an "
              f"unsampled probed step ({result['unsampled_step_ms_median']:.2f} ms), "
              f"{result['sampled_vs_plain']:.2f}x a plain step")
        print(f"on average at every={args.every}, from the medians: sampling adds {result['sampling_cost']:.3f}x; "
              f"(sampled + {args.every - 1} unsampled) / {args.every} plain steps "
              f"{result['amortised_from_medians']:.3f}x")
    else:
        print(f"a sampled step: {result['sampled_step_ms_median']:.2f} ms = {result['sampled_vs_plain']:.2f}x a plain step")
    print(f"probe findings on the way: {report.codes or 'none'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
