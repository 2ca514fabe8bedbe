"""edgenas build: TensorRT engine from ONNX (on the board, where TensorRT is installed)."""

import time
from pathlib import Path


def add_parser(sub) -> None:
    b = sub.add_parser("build", help="build a TensorRT engine (pure plan + .json sidecar) from ONNX")
    b.add_argument("onnx")
    b.add_argument("--target", required=True, help="a tensorrt target, e.g. jetson-orin-nano-trt-int8")
    b.add_argument("--out", required=True, help="engine path (a plan loadable by trtexec/DeepStream)")
    b.add_argument("--timing-cache", help="timing cache file, read and updated (default: next to --out)")
    b.add_argument("--dynamic-batch", metavar="MIN,OPT,MAX", help="optimization profile for a dynamic batch ONNX")
    b.add_argument("--check-only", action="store_true", help="only check the ONNX against the target's TensorRT version")
    b.set_defaults(func=run)


def run(args) -> int:
    from ..deploy.trt_compat import onnx_facts, plan_build
    from ..errors import EdgenasError
    from ..export.onnx_export import load_onnx
    from ..targets import load_target

    target = load_target(args.target)
    if target.backend != "tensorrt":
        raise EdgenasError("target '{}' uses {}, not TensorRT; nothing to build (deploy the ONNX as is)".format(
            target.name, target.backend))
    if args.check_only:
        facts = onnx_facts(load_onnx(args.onnx))
        plan = plan_build(target.precision, facts, target.software.tensorrt or "10.0")
        print("ok: opset {}, {} op types, Q/DQ {}; TensorRT {} build: network {} builder {}{}".format(
            facts["opset"], len(facts["ops"]), facts["qdq"], target.software.tensorrt, plan.network_flags or "-",
            plan.builder_flags or "-", "".join("\nnote: " + n for n in plan.notes)))
        return 0
    from ..deploy.build import build_engine

    dyn = None
    if args.dynamic_batch:
        try:
            dyn = tuple(int(v) for v in args.dynamic_batch.split(","))
            assert len(dyn) == 3 and dyn[0] <= dyn[1] <= dyn[2]
        except (ValueError, AssertionError):
            raise EdgenasError("--dynamic-batch takes MIN,OPT,MAX with MIN <= OPT <= MAX, e.g. 1,4,8")
    t0 = time.time()
    meta = build_engine(args.onnx, target, args.out, args.timing_cache or str(Path(args.out).with_suffix(".timing.cache")), dyn)
    print("built      {} ({:.1f} MB) in {:.1f} s: TensorRT {}, {} ({}), {}, {} layers; sidecar {}.json".format(
        args.out, Path(args.out).stat().st_size / 1e6, time.time() - t0, meta["tensorrt"], meta["gpu"],
        meta["compute_capability"], meta["precision"], meta["layers"], args.out))
    return 0
