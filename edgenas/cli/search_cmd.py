"""edgenas search: hardware-aware evolutionary search under a latency table's constraints."""

import sys

from ..errors import EdgenasError
from .supernet_cmd import add_data_args


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="evolutionary search constrained by a latency table")
    p.add_argument("--target", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--supernet", required=True, help="supernet.pt from 'edgenas supernet train'")
    p.add_argument("--latency-ms", type=float, help="latency budget (table-predicted, end to end)")
    p.add_argument("--params-m", type=float, help="parameter budget, millions")
    p.add_argument("--flops-m", type=float, help="MAC budget, millions")
    p.add_argument("--peak-mem-kb", type=float, help="peak activation memory budget (fp32 estimate), KiB")
    p.add_argument("--mode", choices=["single", "pareto"], default="single",
                   help="single: max accuracy s.t. budgets; pareto: NSGA-II accuracy vs latency")
    p.add_argument("--estimator", choices=["supernet", "naswot"], default="supernet")
    p.add_argument("--population", type=int, default=24)
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--max-evals", type=int)
    p.add_argument("--mutation", type=float, help="per-gene mutation probability (default: 2 / number of genes)")
    p.add_argument("--crossover", type=float, default=0.5)
    add_data_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run directory (re-running resumes)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..profile.predictor import Predictor
    from ..profile.table import LatencyTable
    from ..search.estimators import CachedEstimator, NaswotEstimator, SupernetEstimator
    from ..search.evolution import Options
    from ..search.hardware import Budget
    from ..search.run import run_search
    from ..search.session import load_supernet, prepare_data
    from ..targets import load_target

    target = load_target(args.target)
    table = LatencyTable.load(args.table)
    net, meta = load_supernet(args.supernet)
    space = net.space
    table.check_matches(space=space, target=target, precision=target.precision)
    pred = Predictor(table, space)
    if args.latency_ms is None and args.mode == "single" and not (args.params_m or args.flops_m or args.peak_mem_kb):
        raise EdgenasError("give at least one budget (--latency-ms, --params-m, --flops-m or --peak-mem-kb), or use --mode pareto")
    data = prepare_data(args.data or meta["options"].get("data"), space.resolution, None, args.val_size,
                        meta["options"]["seed"], norm=meta["norm"], channels=space.config["in_channels"])
    if args.estimator == "supernet":
        est = SupernetEstimator(net, data["X_val"], data["y_val"], data["X"])
    else:
        est = NaswotEstimator(space, data["X"][:64], seed=args.seed)
    budget = Budget(args.latency_ms, args.params_m, args.flops_m, args.peak_mem_kb)
    options = Options(args.mode, args.population, args.generations, args.max_evals, args.mutation, args.crossover, 3, args.seed)
    resolved = dict(vars(args), func=None, space=space.describe(), supernet_meta={k: meta[k] for k in ("dataset", "options")})
    result = run_search(space, pred.predict, CachedEstimator(est), budget, options, args.out, target.name, resolved, args.quiet)
    b = result["best"]
    print("best       {}".format(b["arch"]))
    print("           predicted {:.4f} ms on {}, estimated accuracy {:.2f}% ({}), {:.3f} M params, {:.2f} M MACs".format(
        b["latency_ms"], target.name, b["accuracy"], args.estimator, b["params_m"], b["macs_m"]))
    print("front      {} architectures; {} evaluations in {:.0f} s".format(len(result["pareto_front"]), result["evaluations"], result["wall_s"]))
    print("wrote      {}/result.json, best.arch.json, history.csv, pareto.png, convergence.png  [{}]".format(args.out, result["name"]))
    sys.stdout.flush()
    return 0
