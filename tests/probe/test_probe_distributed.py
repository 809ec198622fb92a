"""Two processes, gloo, CPU: per-rank statistics are reduced and rank 0 writes one report."""

import json
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out_dir, functional):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from torch.nn import functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from dllint.probe import Probe
    from probe_models import FunctionalReluMLP, ReluMLP

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        if functional:
            inner = FunctionalReluMLP(inp=16, width=32, depth=3)
            with torch.no_grad():
                inner.blocks[1].fc.bias.fill_(-100.0)  # every unit of blocks.1's F.relu dead, on both ranks
        else:
            inner = ReluMLP(inp=16, width=32, depth=3)
        model = DDP(inner)
        opt = torch.optim.SGD(model.parameters(), 0.01)
        g = torch.Generator().manual_seed(100 + rank)
        with Probe(model, every=2) as probe:
            for step in range(4 if functional else 6):
                x = torch.randn(8 + 4 * rank, 16, generator=g)  # ranks see different batch sizes
                if not functional and rank == 1 and step == 4:
                    x[0, 0] = float("nan")  # only rank 1's batch is bad, at a sampled step
                y = torch.randint(0, 10, (x.shape[0],), generator=g)
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                probe.step(loss)
        report = probe.report()
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as fh:
            json.dump(None if report is None else report.to_dict(), fh)
        dist.barrier()  # gloo aborts a rank that tears down while its peer is still talking
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_gloo_merges_into_one_report_on_rank0(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), False), nprocs=2, join=True)
    rank1 = json.loads((tmp_path / "rank1.json").read_text())
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    assert rank1 is None  # produced once, on rank 0
    assert rank0["summary"]["world_size"] == 2 and rank0["summary"]["checks"] == 3
    codes = {f["code"] for f in rank0["findings"]}
    assert "DLP005" in codes  # seen only on rank 1, reported by rank 0
    (nan,) = [f for f in rank0["findings"] if f["code"] == "DLP005"]
    assert nan["module"] == "layers.0" and nan["values"]["input_nonfinite"] is True and nan["steps"] == [4]


def test_two_process_ddp_functional_activations(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path), True), nprocs=2, join=True)
    rank0 = json.loads((tmp_path / "rank0.json").read_text())
    assert rank0["summary"]["world_size"] == 2 and rank0["summary"]["checks"] == 2
    assert not any("different modules" in n for n in rank0["summary"]["notes"])
    dead = [f["module"] for f in rank0["findings"] if f["code"] == "DLP003"]
    assert dead == ["blocks.1 (F.relu)"]
    assert {(layer["module"], layer["function"]) for layer in rank0["layers"] if layer["function"]} == \
        {("blocks.0", "F.relu"), ("blocks.1", "F.relu"), ("blocks.2", "F.relu")}
