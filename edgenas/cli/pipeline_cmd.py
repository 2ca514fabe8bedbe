"""edgenas run pipeline.yaml | edgenas pipeline --target T --latency-ms X [--data D]"""

import time

from .common import num


def add_parser(sub) -> None:
    r = sub.add_parser("run", help="run a pipeline file (cached, resumable stages)")
    r.add_argument("file", help="pipeline YAML (see examples/)")
    r.set_defaults(func=run_file)
    p = sub.add_parser("pipeline", help="run the whole flow from flags (same stages as 'run')")
    p.add_argument("--target", default="cpu-x86-ort-int8")
    num(p, "--latency-ms", help="the latency budget (default 0.25; with --model: none unless given)")
    p.add_argument("--data")
    p.add_argument("--space", default="mbv3-small")
    p.add_argument("--table")
    p.add_argument("--out", default="runs/pipeline")
    num(p, "--seed", default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N for the host stages")
    p.add_argument("--precision", choices=("auto", "single", "mixed"), default="auto",
                   help="auto: per-layer precision search on ONNX Runtime int8 targets")
    p.add_argument("--board", help="a board from `edgenas board list`: build and validate there over SSH")
    p.add_argument("--model", help="your own ONNX model instead of a search: profile, precision plan, quantize, "
                                   "build, validate every output, report")
    p.add_argument("--inputs", help="with --model: an .npz, one array per input name (+ labels); none: random, warned")
    p.add_argument("--drift-check", choices=("on", "off"), default="on",
                   help="on: time a few of a reused table's reference networks on the board first (edgenas drift)")
    p.add_argument("--no-reprofile", action="store_true",
                   help="when the table does not hold on this board, stop with the command instead of re-profiling")
    p.set_defaults(func=run_flags)


def _go(cfg) -> int:
    from .. import api

    t0 = time.time()
    result = api.run_pipeline(cfg)
    print("pipeline finished in {:.0f} s".format(time.time() - t0))
    return {"FAIL": 3, "INCONCLUSIVE": 4}.get(result.status, 0)


def run_file(args) -> int:
    from .. import api

    return _go(api.load_pipeline(args.file))


def run_flags(args) -> int:
    from .. import api

    latency = args.latency_ms if args.latency_ms is not None else (None if args.model else 0.25)
    cfg = api.PipelineConfig(target=args.target, latency_ms=latency, data=args.data, space=args.space, table=args.table,
                             out=args.out, seed=args.seed, device=args.device, precision=args.precision,
                             board=args.board, drift_check=args.drift_check == "on", reprofile=not args.no_reprofile,
                             model=args.model, inputs=args.inputs)
    return _go(cfg)
