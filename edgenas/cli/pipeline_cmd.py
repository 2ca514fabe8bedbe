"""edgenas run pipeline.yaml | edgenas pipeline --target T --latency-ms X [--data D]"""

import time

from .common import num


def add_parser(sub) -> None:
    r = sub.add_parser("run", help="run a pipeline file (cached, resumable stages)")
    r.add_argument("file", help="pipeline YAML (see examples/)")
    r.set_defaults(func=run_file)
    p = sub.add_parser("pipeline", help="run the whole flow from flags (same stages as 'run')")
    p.add_argument("--target", default="cpu-x86-ort-int8")
    num(p, "--latency-ms", default=0.25)
    p.add_argument("--data")
    p.add_argument("--space", default="mbv3-small")
    p.add_argument("--table")
    p.add_argument("--out", default="runs/pipeline")
    num(p, "--seed", default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N for the host stages")
    p.add_argument("--precision", choices=("auto", "single", "mixed"), default="auto",
                   help="auto: per-layer precision search on ONNX Runtime int8 targets")
    p.add_argument("--board", help="a board from `edgenas board list`: build and validate there over SSH")
    p.set_defaults(func=run_flags)


def _go(cfg) -> int:
    from .. import api

    t0 = time.time()
    result = api.run_pipeline(cfg)
    print("pipeline finished in {:.0f} s".format(time.time() - t0))
    return 3 if result.status == "FAIL" else 0


def run_file(args) -> int:
    from .. import api

    return _go(api.load_pipeline(args.file))


def run_flags(args) -> int:
    from .. import api

    cfg = api.PipelineConfig(target=args.target, latency_ms=args.latency_ms, data=args.data, space=args.space, table=args.table,
                             out=args.out, seed=args.seed, device=args.device, precision=args.precision,
                             board=args.board)
    return _go(cfg)
