"""The host side beyond one CPU process: --device handling, and supernet training under torchrun (two
gloo processes on the CPU here; nccl on GPUs the same way). GPU figures come from tools/bench_gpu.py."""

import os
import subprocess
import sys

import pytest

from .conftest import ROOT, run_cli, space_opts
from .test_data import fashion

TINY_TRAIN = ["--space", "mbv3-small", *space_opts(), "--train-subset", "1024", "--val-size", "512", "--epochs", "2",
              "--threads", "1", "--seed", "3", "--quiet"]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(_cuda(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_one_line(tmp_path):
    res = run_cli("supernet", "train", *TINY_TRAIN, "--device", "cuda", "--out", tmp_path / "sn", check=1)
    assert res.stderr.count("\n") == 1 and "CUDA is not available" in res.stderr and "CUDA build of torch" in res.stderr
    res = run_cli("supernet", "train", *TINY_TRAIN, "--device", "tpu", "--out", tmp_path / "sn", check=1)
    assert "is not a device; use auto, cpu, cuda or cuda:N" in res.stderr
    res = run_cli("supernet", "train", *TINY_TRAIN, "--amp", "bf16", "--device", "cpu", "--out", tmp_path / "sn", check=1)
    assert "needs a CUDA device" in res.stderr


def _torchrun(args, nproc=2):
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
           "-m", "edgenas", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT), env=env, timeout=300)


@fashion
def test_torchrun_two_processes_match_one_process(tmp_path):
    one = run_cli("supernet", "train", *TINY_TRAIN, "--batch-size", "64", "--device", "cpu", "--out", tmp_path / "one", check=0)
    two = _torchrun(["supernet", "train", *TINY_TRAIN, "--batch-size", "64", "--device", "cpu", "--out", tmp_path / "two"])
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("epoch 1:") == 1  # only rank 0 reports and writes the checkpoint
    import torch

    m1 = torch.load(tmp_path / "one" / "supernet.pt", weights_only=True)["meta"]
    m2 = torch.load(tmp_path / "two" / "supernet.pt", weights_only=True)["meta"]
    assert m2["options"]["world_size"] == 2 and m1["options"]["world_size"] == 1
    h1, h2 = m1["train_state"]["history"][-1], m2["train_state"]["history"][-1]
    assert abs(h1["loss_largest"] - h2["loss_largest"]) < 0.15 * h1["loss_largest"], (h1, h2)
    for k in ("val_acc_smallest", "val_acc_largest"):
        assert abs(h1[k] - h2[k]) < 12.0, (k, h1, h2)  # same global batch: equal within the noise of 512 val images (~5 pt)
    assert one.returncode == 0


def test_torchrun_batch_not_divisible_is_one_line(tmp_path):
    res = _torchrun(["supernet", "train", *TINY_TRAIN, "--batch-size", "63", "--device", "cpu", "--out", tmp_path / "x"])
    assert res.returncode != 0
    ours = [line for line in res.stderr.splitlines() if line.startswith("edgenas: error:")]
    assert ours and all("does not divide over 2 torchrun processes" in line for line in ours)


@fashion
def test_resume_with_other_options_is_refused(tmp_path):
    run_cli("supernet", "train", *TINY_TRAIN, "--device", "cpu", "--out", tmp_path / "sn", check=0)
    res = run_cli("supernet", "train", *TINY_TRAIN, "--lr", "0.07", "--device", "cpu", "--out", tmp_path / "sn", check=1)
    assert "was trained with other options (lr 0.05 -> 0.07)" in res.stderr and "delete it to start fresh" in res.stderr
    res = run_cli("supernet", "train", *TINY_TRAIN, "--epochs", "1", "--device", "cpu", "--out", tmp_path / "sn", check=0)
    assert "resuming" in res.stderr or "epoch" in res.stdout


# --- on a CUDA machine: pytest -m gpu -------------------------------------------------------------------
gpu = pytest.mark.skipif(not _cuda(), reason="no CUDA GPU here (run on a GPU machine: pytest -m gpu)")


@pytest.mark.gpu
@gpu
def test_checkpoint_written_on_gpu_loads_on_cpu_and_back(tmp_path):
    import numpy as np
    import torch

    from edgenas.nas.session import load_supernet
    from edgenas.nas.supernet import Supernet
    from edgenas.nas.train import save_checkpoint
    from edgenas.space import get_space

    space = get_space("mbv3-small", resolution=16, depths=[1, 2], kernels=[3, 5], expands=[3], acts=["re"],
                      se=[False, True], head_channels=32)
    arch = space.decode(space.sample(np.random.default_rng(0), 1)[0])
    x = torch.randn(4, 1, 16, 16)
    for dev in ("cuda", "cpu"):
        torch.manual_seed(0)
        net = Supernet(space).to(dev).eval()
        ref = net(x.to(dev), arch).float().cpu()
        meta = {"kind": "supernet", "space": space.describe(), "norm": {"mean": 0.0, "std": 1.0}, "options": {"seed": 0}}
        save_checkpoint(tmp_path / "sn.pt", net.state_dict(), meta)
        loaded, _ = load_supernet(tmp_path / "sn.pt")  # always lands on the CPU
        other = "cpu" if dev == "cuda" else "cuda"
        out = loaded.to(other).eval()(x.to(other), arch).float().cpu()
        torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-4)


@pytest.mark.gpu
@gpu
def test_gpu_torch_table_times_graph_replays(tmp_path):
    res = run_cli("profile", "--target", "gpu-torch-fp16", "--space", "mbv3-small", *space_opts(), "--networks", "4",
                  "--out", tmp_path / "t.json", "--quiet", check=0)
    import json

    table = json.loads((tmp_path / "t.json").read_text())
    assert "cuda-graph replay" in table["header"]["protocol"]["timer"]["method"] and table["header"]["gpu"]["name"]
    assert all(e["median_ms"] > 0 for e in table["entries"].values()) and "calibration" in res.stdout
