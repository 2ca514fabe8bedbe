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
    p.add_argument("--inputs", required=True, help=".npz with 'inputs' (and 'labels')")
    p.add_argument("--ref-outputs", required=True, help=".npz of reference outputs saved on the host")
    p.add_argument("--max-acc-drop", type=float, default=1.0)
    p.add_argument("--min-agreement", type=float, default=97.0)
    p.add_argument("--min-cosine", type=float, default=0.99)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        from edgenas.data.preprocess import load_inputs
        from edgenas.targets import load_target
        from edgenas.validation.report import Thresholds
        from edgenas.validation.run import validate_against_saved

        inputs, labels = load_inputs(args.inputs)
        report = validate_against_saved(args.artifact, load_target(args.target), inputs, labels, args.ref_outputs, args.out,
                                        Thresholds(args.max_acc_drop, args.min_agreement, args.min_cosine))
    except EdgenasError as e:
        sys.stderr.write("validate_on_device: error: {}\n".format(e))
        return 1
    with open(os.path.join(args.out, "report.md")) as f:
        print(f.read())
    return 0 if report["status"] == "PASS" else 3


if __name__ == "__main__":
    sys.exit(main())
