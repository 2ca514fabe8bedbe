"""One search run: evolution over a space under table constraints, and its run directory
(result.json, best.arch.json, history.csv, options.json, pareto.png, convergence.png)."""

import collections
import csv
import io
import sys
import time
from pathlib import Path
from typing import Any, Dict

import numpy as np

from ..errors import EdgenasError
from ..util.io import atomic_write_json, atomic_write_text
from .evolution import Evolution, Options
from .hardware import Budget, describe_costs, hardware_problem
from .pareto import pareto_mask
from .plots import convergence_plot, pareto_plot


def run_name(target: str, lat: float, acc: float) -> str:
    return "{}_lat@{:.3g}ms_acc@{:.1f}".format(target, lat, acc)


def choice_frequency(space, G: np.ndarray) -> Dict[str, Dict[str, float]]:
    """How often each block choice appears in active layers of ``G`` (trust check on the front)."""
    counts: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for g in G:
        arch = space.decode(g)
        for stage in arch.get("stages", []):
            counts["depth"][str(len(stage))] += 1
            for L in stage:
                for k, v in L.items():
                    counts[k][str(v)] += 1
    return {k: {c: round(n / sum(v.values()), 3) for c, n in sorted(v.items())} for k, v in counts.items()}


def best_vs_evals(curve, total: int):
    """(evaluations, best feasible accuracy) at 1-2-5 milestones and at the end: the run's learning curve."""
    marks, m = [], 10
    while m < total:
        marks.extend(x for x in (m, 2 * m, 5 * m) if x < total)
        m *= 10
    rows = []
    for n in sorted(set(marks + [total])):
        seen = [c[1] for c in curve if c[0] <= n]
        if seen:
            rows.append((n, seen[-1]))
    return rows


def run_search(space, latency, estimator, budget: Budget, options: Options, out_dir, target_name: str,
               resolved: Dict[str, Any], quiet: bool = False) -> Dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    problem = hardware_problem(space, latency, estimator, budget, options.mode)
    evo = Evolution(problem, options, checkpoint=str(out / "state.json"))
    atomic_write_json(out / "options.json", dict(resolved, batch=evo.batch, initial_design=evo.initial))
    if evo.state.generation and not quiet:
        sys.stderr.write("edgenas: resuming search at generation {} ({} evaluations)\n".format(
            evo.state.generation, len(evo.state.archive)))
    t0 = time.time()

    def report(gen, h):
        if not quiet:
            sys.stderr.write("gen {:>3}  evals {:>5}/{}  best acc {:6.2f}%  elite mean {:6.2f}%  diversity {:.2f}  {:.0f}s\n".format(
                gen, h["evals"], evo.budget, -h["best"], -h["mean"], h["diversity"], time.time() - t0))

    evo.run(report)
    G, F, V = evo.evaluated()
    acc = -F[:, 0]
    costs = describe_costs(space, G, latency)
    lat = costs["latency_ms"]
    feasible = V <= 0
    if not feasible.any():
        raise EdgenasError("no evaluated architecture met the constraints after {} evaluations; raise the budget or "
                           "search longer".format(len(G)))
    fidx = np.flatnonzero(feasible)
    front = fidx[pareto_mask(np.stack([-acc[fidx], lat[fidx]], 1))]
    front = front[np.argsort(lat[front])]
    best = int(fidx[np.argmax(acc[fidx])])

    def entry(i):
        arch = space.decode(G[i])
        e = {"arch": space.to_string(arch), "latency_ms": round(float(lat[i]), 5),
             "accuracy": round(float(acc[i]), 3), "params_m": round(float(costs["params_m"][i]), 4),
             "macs_m": round(float(costs["macs_m"][i]), 3), "peak_act_kb": round(float(costs["peak_act_kb"][i]), 1)}
        if "precision" in arch:  # a mixed-precision search: each op's precision
            e["precision_plan"] = arch["precision"]
        return e

    name = run_name(target_name, lat[best], acc[best])
    result = {"name": name, "target": target_name, "space": space.describe(), "budget": budget.__dict__,
              "mode": options.mode, "evaluations": int(len(G)), "budget_evaluations": evo.budget,
              "stop_reason": evo.state.stop_reason, "generations": evo.state.generation,
              "wall_s": round(time.time() - t0, 1), "best": entry(best), "pareto_front": [entry(i) for i in front],
              "front_choice_frequency": choice_frequency(space, G[front]),
              "curve": [[n, round(-f, 3)] for n, f in evo.curve()], "history": evo.state.history}
    result["plots"] = {
        "pareto": pareto_plot(out / "pareto.png", lat, acc, feasible, front, best, budget.latency_ms, name),
        "convergence": convergence_plot(out / "convergence.png", evo.state.history, result["curve"], name),
    }
    atomic_write_json(out / "result.json", result)
    atomic_write_json(out / "best.arch.json", {"space": space.describe(), "arch": result["best"]["arch"], "name": name,
                                               "precision_plan": result["best"].get("precision_plan"),
                                               "predicted_latency_ms": result["best"]["latency_ms"],
                                               "estimated_accuracy": result["best"]["accuracy"], "target": target_name})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(evo.state.history[0]))
    w.writeheader()
    w.writerows(evo.state.history)
    atomic_write_text(out / "history.csv", buf.getvalue())
    return result
