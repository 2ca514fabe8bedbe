"""edgenas search: hardware-aware evolutionary search under a latency table's constraints."""

from ..tasks.search_options import SearchOptions
from ..util.options import add_arguments, from_args


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="evolutionary search constrained by a latency table")
    p.add_argument("--target", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--supernet", required=True, help="supernet.pt from 'edgenas supernet train'")
    add_arguments(p, SearchOptions)  # every option's flag, default, help and range: edgenas/tasks/search_options.py
    p.add_argument("--out", required=True, help="run directory (re-running resumes)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--report", action="store_true", help="print best feasible accuracy vs evaluations after the run")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import api

    r = api.search(args.target, args.table, args.supernet, args.out, from_args(SearchOptions, args), progress=not args.quiet)
    print("best       {}".format(r.arch))
    print("           predicted {:.4f} ms on {}, estimated accuracy {:.2f}% ({}), {:.3f} M params, {:.2f} M MACs".format(
        r.latency_ms, r.result["target"], r.accuracy, args.estimator, r.params_m, r.macs_m))
    print("front      {} architectures; {} evaluations in {:.0f} s{}".format(
        len(r.pareto_front), r.evaluations, r.seconds, " ({})".format(r.stop_reason) if r.stop_reason else ""))
    if args.report:
        from ..nas.run import best_vs_evals

        print("evaluations  best feasible acc")
        for n, acc in best_vs_evals(r.result.get("curve", []), r.evaluations):
            print("{:>11}  {:6.2f}%".format(n, acc))
    print("wrote      {}/result.json, best.arch.json, history.csv, pareto.png, convergence.png  [{}]".format(r.run_dir, r.name))
    return 0
