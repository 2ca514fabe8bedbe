#!/usr/bin/env python3
"""The main job from Python: profile -> train the supernet -> search -> extract + fine-tune -> export ->
quantize -> validate, each one call that returns a result object.

    python examples/python_api.py --out runs/api-demo            # the embedded demo, a few minutes on 2 cores
    python examples/python_api.py --out runs/api-quick --quick   # tiny settings (what CI runs)
"""

import argparse
import sys
from pathlib import Path

import edgenas


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/api-demo")
    p.add_argument("--target", default="cpu-x86-ort-int8")
    p.add_argument("--latency-ms", type=float, default=0.25)
    p.add_argument("--quick", action="store_true", help="tiny space and data (seconds, for CI)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.quick:  # a tiny slice of mbv3-small, a few hundred images
        space_opts = {"depths": [1, 2], "kernels": [3, 5], "expands": [3], "acts": ["re"], "se": [False, True],
                      "head_channels": 32}
        res, data_n, epochs, budget = 16, 256, 1, 8
    else:
        space_opts, res, data_n, epochs, budget = {}, None, 4000, 1, 60

    try:
        # 1. a latency table for the target, measured here (or use a shipped one in latency_tables/)
        table = edgenas.profile(args.target, out / "table.json", space="mbv3-small", resolution=res,
                                space_options=space_opts, networks=6 if args.quick else 32, progress=False)
        print("table      {} ({} ops, calibration error {:.1f}%)".format(table.table, table.entries,
                                                                       table.calibration_loo_mape_pct))
        # 2. the weight-sharing supernet on the demo data (Fashion-MNIST)
        sn = edgenas.train_supernet(out / "supernet", "mbv3-small", resolution=res, space_options=space_opts,
                                    epochs=epochs, train_subset=data_n, val_size=min(1000, data_n // 2), device="auto",
                                    progress=False)
        print("supernet   {} (val acc {:.1f}% smallest, {:.1f}% largest)".format(sn.checkpoint, sn.val_acc_smallest,
                                                                                 sn.val_acc_largest))
        # 3. search under the latency budget (the largest network's latency in quick mode, always feasible)
        budget_ms = args.latency_ms if not args.quick else 10 * table.latency_table.header["calibration_networks"][1]["measured_ms"]
        best = edgenas.search(args.target, table.table, sn.checkpoint, out / "search", latency_ms=budget_ms, budget=budget,
                              val_size=min(1000, data_n // 2), progress=False)
        print("search     {} at {:.4f} ms, est. {:.1f}% ({} evaluations)".format(best.arch, best.latency_ms, best.accuracy,
                                                                                best.evaluations))
        # 4. the winner as a standalone model, fine-tuned; then ONNX, INT8 and validation against FP32
        model = edgenas.extract(sn.checkpoint, best.run_dir / "best.arch.json", out / "model.pt",
                                val_size=min(1000, data_n // 2))
        model = edgenas.finetune(model.checkpoint, out / "model_ft.pt", epochs=1, train_subset=data_n,
                                 val_size=min(1000, data_n // 2), test_limit=500, progress=False)
        onnx = edgenas.export(model.checkpoint, out / "model.onnx")
        int8 = edgenas.quantize(onnx.onnx, out / "model.int8.onnx", target=args.target, calib_size=64 if args.quick else 256)
        report = edgenas.validate(int8.onnx, onnx.onnx, args.target, out / "report", limit=200 if args.quick else 2000,
                                  table=table.table, min_agreement=0 if args.quick else 97.0,
                                  max_acc_drop=100 if args.quick else 1.0, max_latency_over_predicted=100 if args.quick else 1.1)
    except edgenas.EdgenasError as e:
        print("error: {}".format(e), file=sys.stderr)
        return 1
    art = report.rows[-1]
    print("validate   {}: int8 {:.4f} ms, top-1 {:.1f}% ({:.1f}% agreement with FP32) -> {}".format(
        report.status, art["latency_p50_ms"], art["top1"], art["top1_agreement"], report.markdown))
    return 0 if report.passed else 3


if __name__ == "__main__":
    sys.exit(main())
