#!/usr/bin/env python3
"""Compression benchmarks on a demo model: INT8 Q/DQ speed-up and accuracy drop on ONNX Runtime CPU
(1 thread), and latency-aware pruning to a requested latency (measured / requested), with MACs ratio
against measured latency ratio.

    python tools/bench_compress.py --model runs/demo/model_ft.pt --json runs/bench/compress.json
"""

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edgenas.compress.prune import macs_per_block, measure_latency_fn, prune_to_latency
from edgenas.compress.quantize import quantize_model
from edgenas.data.preprocess import dataset_inputs
from edgenas.modelio.model_export import export_model, read_sidecar
from edgenas.latency.predictor import Predictor
from edgenas.latency.table import LatencyTable
from edgenas.backends import make_runner
from edgenas.runtime.timing import measure_interleaved, stats
from edgenas.nas.session import load_model, prepare_data
from edgenas.nas.train import train_model
from edgenas.targets import load_target
from edgenas.util.results import write_result_json
from edgenas.validation.compare import compare_outputs, run_batched


def onnx_outputs(path, target, inputs):
    r = make_runner(path, target)
    r.activate()
    return run_batched(r, inputs, 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model checkpoint (extract/finetune)")
    p.add_argument("--table", default="latency_tables/cpu-x86-ort-fp32_mbv3-small_r28.json")
    p.add_argument("--prune-fraction", type=float, default=0.6, help="requested latency as a fraction of the FP32 model's")
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("--train-subset", type=int, default=12000)
    p.add_argument("--test-limit", type=int, default=5000)
    p.add_argument("--json", required=True)
    args = p.parse_args(argv)
    t_start = time.time()
    fp32_t, int8_t = load_target("cpu-x86-ort-fp32"), load_target("cpu-x86-ort-int8")
    model, meta, space = load_model(args.model)
    out = {"model": args.model, "arch": meta["arch"]}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_model(model, meta, space, Path(tmp) / "m.onnx")
        side = read_sidecar(fp32)
        calib, _ = dataset_inputs(None, side, 256, split="train", seed=1)
        q = quantize_model(fp32, Path(tmp) / "m.int8.onnx", calib, int8_t.quantization)
        int8 = Path(tmp) / "m.int8.onnx"
        inputs, labels = dataset_inputs(None, side, args.test_limit)
        o32, o8 = onnx_outputs(fp32, fp32_t, inputs), onnx_outputs(int8, int8_t, inputs)
        c = compare_outputs(o8, o32, labels)
        runners = {"fp32": make_runner(fp32, fp32_t), "int8": make_runner(int8, int8_t)}
        calls = {}
        for k, r in runners.items():
            r.activate()
            calls[k] = r.timed_call(r.random_feed())
        proto = dataclasses.replace(fp32_t.protocol, rounds=9, max_extra_rounds=0)
        lat = {k: stats(v)["median_ms"] for k, v in measure_interleaved(calls, proto).items()}
    acts = meta["arch"].count("_re") / max(1, meta["arch"].count("ir_"))
    out.update(int8_speedup=lat["fp32"] / lat["int8"], fp32_ms=lat["fp32"], int8_ms=lat["int8"],
               fp32_top1=c["ref_top1"], int8_top1=c["top1"], int8_acc_drop_pt=c["ref_top1"] - c["top1"],
               int8_agreement=c["top1_agreement"], relu_fraction=acts, kept_float=q.get("sensitivity", {}).get("kept_float"))
    print("int8: {:.4f} -> {:.4f} ms ({:.2f}x), top-1 {:.2f} -> {:.2f}% (agreement {:.2f}%)".format(
        lat["fp32"], lat["int8"], out["int8_speedup"], c["ref_top1"], c["top1"], c["top1_agreement"]))
    pred = Predictor(LatencyTable.load(args.table), space)
    requested = args.prune_fraction * lat["fp32"]
    data = prepare_data(None, space.resolution, args.train_subset, 2000, 0, norm=meta["norm"], num_classes=space.config["num_classes"])
    x = torch.randn(*space.input_shape())
    measure = measure_latency_fn(fp32_t, space.input_shape())
    res = prune_to_latency(model, space.from_string(meta["arch"]), pred, requested, x, measure=measure)
    pruned = res["model"]
    train_model(pruned, data["train"], args.finetune_epochs, 128, 0.01, 0, "finetune", show_progress=False)
    pruned_meas = measure(pruned)
    base_meas = measure(model)
    with torch.no_grad():  # top-1 on the same preprocessed test inputs the ONNX models saw
        acc_base = float(np.mean(model.eval()(torch.from_numpy(inputs)).argmax(1).numpy() == labels) * 100)
        acc_pruned = float(np.mean(pruned.eval()(torch.from_numpy(inputs)).argmax(1).numpy() == labels) * 100)
    macs0, macs1 = sum(macs_per_block(model, x)), sum(macs_per_block(pruned, x))
    out.update(prune_requested_ms=requested, prune_measured_ms=pruned_meas, prune_latency_over_target=pruned_meas / requested,
               prune_predicted_ms=res["predicted_ms"], prune_acc_drop_pt=acc_base - acc_pruned, base_top1=acc_base,
               pruned_top1=acc_pruned, macs_ratio=macs1 / macs0, measured_latency_ratio=pruned_meas / base_meas,
               params_ratio=sum(p.numel() for p in pruned.parameters()) / sum(p.numel() for p in model.parameters()),
               prune_iterations=res["iterations"], finetune_epochs=args.finetune_epochs, wall_s=round(time.time() - t_start, 1))
    for k in ("int8_speedup", "int8_acc_drop_pt", "prune_latency_over_target", "prune_acc_drop_pt", "macs_ratio",
              "measured_latency_ratio", "wall_s"):
        print("{:<28} {:.4f}".format(k, out[k]))
    write_result_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
