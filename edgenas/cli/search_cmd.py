"""edgenas search: hardware-aware evolutionary search under a latency table's constraints."""

from .common import add_data_args, add_device_arg, num


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="evolutionary search constrained by a latency table")
    p.add_argument("--target", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--supernet", required=True, help="supernet.pt from 'edgenas supernet train'")
    num(p, "--latency-ms", help="latency budget (table-predicted, end to end)")
    num(p, "--params-m", help="parameter budget, millions")
    num(p, "--flops-m", help="MAC budget, millions")
    num(p, "--peak-mem-kb", help="peak activation memory budget (fp32 estimate), KiB")
    p.add_argument("--mode", choices=["single", "pareto"], default="single",
                   help="single: max accuracy s.t. budgets; pareto: NSGA-II accuracy vs latency")
    p.add_argument("--estimator", choices=["supernet", "naswot"], default="supernet")
    num(p, "--budget", help="accuracy evaluations to spend, exactly (default 100); the search's sizes follow from it")
    num(p, "--population", help="override the elite population the budget implies")
    num(p, "--generations", help="stop after this many generations even with budget left (without --budget: "
        "population x (generations + 1) evaluations)")
    num(p, "--mutation", help="per-gene mutation probability (default: 2 / number of genes)")
    num(p, "--crossover", default=0.5)
    add_data_args(p)
    num(p, "--seed", default=0)
    add_device_arg(p)
    p.add_argument("--out", required=True, help="run directory (re-running resumes)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--report", action="store_true", help="print best feasible accuracy vs evaluations after the run")
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import api

    r = api.search(args.target, args.table, args.supernet, args.out, args.latency_ms, args.params_m, args.flops_m,
                   args.peak_mem_kb, args.mode, args.estimator, args.budget, args.population, args.generations, args.mutation,
                   args.crossover, args.data, args.val_size, args.seed, args.device, progress=not args.quiet)
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
