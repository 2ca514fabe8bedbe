#!/usr/bin/env python3
"""Board side: run an engine (TensorRT) or ONNX (ONNX Runtime) on saved inputs and compare with the
reference outputs saved on the host; writes report.json + report.md. Needs no torch; Python 3.8.

    # host:  edgenas export model.pt --out model.onnx --inputs 1000     (writes model.onnx.inputs.npz, .ref_outputs.npz)
    # board: python tools/validate_on_device.py model.engine --target jetson-orin-nano-trt-int8 \
    #            --inputs model.onnx.inputs.npz --ref-outputs model.onnx.ref_outputs.npz --out report/
"""

import argparse
import os
import sys

try:
    import edgenas  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from edgenas.errors import EdgenasError  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("artifact", help=".engine (with its .engine.json) or .onnx")
    p.add_argument("--target", required=True)
    p.add_argument("--inputs", required=True, help=".npz with one array per input name, or 'inputs' (and 'labels')")
    p.add_argument("--ref-outputs", required=True, help=".npz of reference outputs saved on the host")
    from edgenas.validation.report import Thresholds

    for name in ("max_acc_drop", "min_agreement", "min_cosine"):  # the defaults, declared once
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(Thresholds(), name))
    p.add_argument("--atol", action="append", metavar="[OUTPUT:]TOL", help="absolute tolerance (all outputs, or one)")
    p.add_argument("--rtol", action="append", metavar="[OUTPUT:]TOL", help="relative tolerance (all outputs, or one)")
    p.add_argument("--error-stat", action="append", metavar="[OUTPUT:]STAT", help="elemwise, max, mean, median, quantile")
    p.add_argument("--class-outputs", help="comma-separated outputs holding class scores")
    p.add_argument("--save-outputs", help="also save the artifact's outputs (for a metric hook run on the host)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        from edgenas.targets import load_target
        from edgenas.validation.outputs import per_output
        from edgenas.validation.report import Thresholds
        from edgenas.validation.run import validate_against_saved

        th = Thresholds(args.max_acc_drop, args.min_agreement, args.min_cosine, atol=per_output(args.atol, "--atol"),
                        rtol=per_output(args.rtol, "--rtol"), error_stat=per_output(args.error_stat, "--error-stat", "stat"))
        classes = [c for c in (args.class_outputs or "").split(",") if c] or None
        report = validate_against_saved(args.artifact, load_target(args.target), args.inputs, None, args.ref_outputs,
                                        args.out, th, classes=classes, save_path=args.save_outputs)
    except EdgenasError as e:
        sys.stderr.write("validate_on_device: error: {}\n".format(e))
        return 1
    with open(os.path.join(args.out, "report.md")) as f:
        print(f.read())
    return {"PASS": 0, "INCONCLUSIVE": 4}.get(report["status"], 3)


if __name__ == "__main__":
    sys.exit(main())
