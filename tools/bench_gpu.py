#!/usr/bin/env python3
"""Host-side GPU benchmark: supernet training images/s and candidate-evaluation time, CPU against the
GPU, measured in one run on one machine, for the training loop as it was ("unchanged": float data
indexed on the device, a host sync every step, cuDNN autotuning off) and for today's loop with each
switch (cuDNN autotuning, bf16 autocast, channels-last). Random data of the demo's shapes.

    python tools/bench_gpu.py --json runs/bench/gpu.json           # on a CUDA machine
    python tools/bench_gpu.py --json /tmp/g.json --quick --device cpu   # smoke test anywhere
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from edgenas.nas.estimators import SupernetEstimator
from edgenas.nas.supernet import Supernet
from edgenas.nas.tensors import ImageData
from edgenas.nas.train import SubnetSampler, cosine_lr, kd_loss, train_supernet
from edgenas.space import get_space
from edgenas.util.results import write_result_json

CASES = [("mbv3-small", 28, 128), ("mbv3-small", 28, 512), ("mbv3", 224, 64)]
VARIANTS = {"fast": dict(bench=True, amp=None, cl=False), "fast+bf16": dict(bench=True, amp=torch.bfloat16, cl=False),
            "fast+bf16+channels_last": dict(bench=True, amp=torch.bfloat16, cl=True)}


def make_space(name, res):
    return get_space(name, resolution=res, num_classes=10, in_channels=1 if name == "mbv3-small" else 3)


def random_data(space, n, device, cl=False, seed=0):
    rng = np.random.default_rng(seed)
    c, r = space.config["in_channels"], space.resolution
    return ImageData(rng.integers(0, 256, (n, c, r, r), dtype=np.uint8), rng.integers(0, 10, n), r, 0.3, 0.35, device, cl)


def legacy_imgs_per_s(space, batch, steps, device):
    """The loop before this work: float inputs indexed per step, loss read back every step, fp32."""
    torch.backends.cudnn.benchmark = False
    data = random_data(space, batch * steps, device)
    X = data.inputs(torch.arange(len(data))).to(device)
    y = data.labels.to(device)
    net = Supernet(space).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=3e-5)
    sampler = SubnetSampler(space, "sandwich", 1)
    hi, rng = sampler.largest(), np.random.default_rng(0)
    times = []
    for epoch in range(3):
        _sync(device)
        t0 = time.time()
        idx = rng.permutation(len(y))
        for step in range(steps):
            j = torch.from_numpy(idx[step * batch:(step + 1) * batch]).to(device)
            xb, yb = X[j], y[j]
            cosine_lr(opt, 0.05, step, steps, 0)
            opt.zero_grad(set_to_none=True)
            teacher = net(xb, hi)
            loss = F.cross_entropy(teacher, yb)
            loss.backward()
            for arch in sampler.step(rng, 0, 2):
                kd_loss(net(xb, arch), teacher.detach(), yb).backward()
            opt.step()
            float(loss)  # the old loop read the loss back every step
        _sync(device)
        times.append(time.time() - t0)
    return batch * steps / times[-1]


def current_imgs_per_s(space, batch, steps, device, bench, amp, cl):
    torch.backends.cudnn.benchmark = bench and device.type == "cuda"
    data = random_data(space, batch * steps, device, cl)
    torch.manual_seed(0)
    net = Supernet(space).to(device)
    if cl:
        net = net.to(memory_format=torch.channels_last)
    state = train_supernet(net, space, data, 3, batch, 0.05, 0, show_progress=False, amp=amp)
    return state["history"][-1]["images_per_s"]


def eval_s_per_candidate(space, device, n_val=1000, n_cand=6):
    torch.backends.cudnn.benchmark = device.type == "cuda"
    torch.manual_seed(0)
    net = Supernet(space).to(device)
    val, calib = random_data(space, n_val, device, seed=1), random_data(space, 512, device, seed=2)
    est = SupernetEstimator(net, val, calib)
    G = space.sample(np.random.default_rng(0), n_cand + 2)
    est(G[:2])  # warm-up
    _sync(device)
    t0 = time.time()
    est(G[2:])
    _sync(device)
    return (time.time() - t0) / n_cand


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=20, help="training steps per measured epoch")
    p.add_argument("--cpu-steps", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    p.add_argument("--cases", help="comma-separated case keys to run, e.g. mbv3-small@28/b128 (default: all: {})".format(
        ", ".join("{}@{}/b{}".format(*c) for c in CASES)))
    args = p.parse_args(argv)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.stderr.write("bench_gpu: error: --device {}: torch {} sees no CUDA GPU; run it on a GPU machine or pass "
                         "--device cpu\n".format(args.device, torch.__version__))
        return 1
    out = {"device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "steps": args.steps, "cases": {}}
    cases = CASES[:1] if args.quick else CASES
    if args.cases:
        want = [c.strip() for c in args.cases.split(",") if c.strip()]
        cases = [c for c in CASES if "{}@{}/b{}".format(*c) in want]
        if len(cases) != len(want):
            sys.stderr.write("bench_gpu: error: --cases {}: known cases are {}\n".format(
                args.cases, ", ".join("{}@{}/b{}".format(*c) for c in CASES)))
            return 1
    steps = 2 if args.quick else args.steps
    for name, res, batch in cases:
        space = make_space(name, res)
        key = "{}@{}/b{}".format(name, res, batch)
        row = {"legacy": legacy_imgs_per_s(space, batch, steps, dev)}
        for vname, v in (list(VARIANTS.items())[:1] if args.quick else VARIANTS.items()):
            if v["amp"] is not None and (dev.type != "cuda" or not torch.cuda.is_bf16_supported()):
                continue
            row[vname] = current_imgs_per_s(space, batch, steps, dev, v["bench"], v["amp"], v["cl"])
        best = max((k for k in row if k != "legacy"), key=lambda k: row[k])
        row.update(best=best, best_over_legacy=row[best] / row["legacy"])
        if dev.type == "cuda" and batch <= 128:
            cpu = torch.device("cpu")
            row["cpu"] = current_imgs_per_s(space, batch, max(2, args.cpu_steps), cpu, False, None, False)
            row["gpu_over_cpu"] = row[best] / row["cpu"]
        out["cases"][key] = row
        print(key, json.dumps({k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
        write_result_json(args.json, out)
    space = make_space("mbv3-small", 28)
    out["eval_s_per_candidate"] = {"device": eval_s_per_candidate(space, dev, n_cand=2 if args.quick else 6)}
    if dev.type == "cuda":
        out["eval_s_per_candidate"]["cpu"] = eval_s_per_candidate(space, torch.device("cpu"), n_cand=2)
        out["eval_s_per_candidate"]["gpu_over_cpu"] = out["eval_s_per_candidate"]["cpu"] / out["eval_s_per_candidate"]["device"]
    print("eval", out["eval_s_per_candidate"], flush=True)
    write_result_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
