"""edgenas run pipeline.yaml | edgenas pipeline --target T --latency-ms X [--data D]"""

import time


def add_parser(sub) -> None:
    r = sub.add_parser("run", help="run a pipeline file (cached, resumable stages)")
    r.add_argument("file", help="pipeline YAML (see examples/)")
    r.set_defaults(func=run_file)
    p = sub.add_parser("pipeline", help="run the whole flow from flags (same stages as 'run')")
    p.add_argument("--target", default="cpu-x86-ort-int8")
    p.add_argument("--latency-ms", type=float, default=0.25)
    p.add_argument("--data")
    p.add_argument("--space", default="mbv3-small")
    p.add_argument("--table")
    p.add_argument("--out", default="runs/pipeline")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_flags)


def _go(cfg) -> int:
    from ..pipeline.run import Pipeline

    t0 = time.time()
    summary = Pipeline(cfg).run()
    print("pipeline finished in {:.0f} s".format(time.time() - t0))
    bad = [r["stage"] for r in summary["rows"] if r["status"] == "FAIL"]
    return 3 if bad else 0


def run_file(args) -> int:
    from ..pipeline.config import load_pipeline

    return _go(load_pipeline(args.file))


def run_flags(args) -> int:
    from ..pipeline.config import PipelineConfig

    cfg = PipelineConfig(target=args.target, latency_ms=args.latency_ms, data=args.data, space=args.space, table=args.table,
                         out=args.out, seed=args.seed)
    cfg.validate_values()
    return _go(cfg)
