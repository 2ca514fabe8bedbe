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


def run_search(space, latency, estimator, budget: Budget, options: Options, out_dir, target_name: str,
               resolved: Dict[str, Any], quiet: bool = False) -> Dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    problem = hardware_problem(space, latency, estimator, budget, options.mode)
    atomic_write_json(out / "options.json", resolved)
    evo = Evolution(problem, options, checkpoint=str(out / "state.json"))
    if evo.state.generation and not quiet:
        sys.stderr.write("edgenas: resuming search at generation {} ({} evaluations)\n".format(
            evo.state.generation, len(evo.state.archive)))
    t0 = time.time()

    def report(gen, h):
        if not quiet:
            sys.stderr.write("gen {:>3}/{}  evals {:>5}  best acc {:6.2f}%  mean {:6.2f}%  feasible {:4.0%}  diversity {:.2f}  {:.0f}s\n".format(
                gen, options.generations, h["evals"], -h["best"], -h["mean"], h["feasible_frac"], h["diversity"], time.time() - t0))

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
        return {"arch": space.to_string(space.decode(G[i])), "latency_ms": round(float(lat[i]), 5),
                "accuracy": round(float(acc[i]), 3), "params_m": round(float(costs["params_m"][i]), 4),
                "macs_m": round(float(costs["macs_m"][i]), 3), "peak_act_kb": round(float(costs["peak_act_kb"][i]), 1)}

    name = run_name(target_name, lat[best], acc[best])
    result = {"name": name, "target": target_name, "space": space.describe(), "budget": budget.__dict__,
              "mode": options.mode, "evaluations": int(len(G)), "generations": evo.state.generation,
              "wall_s": round(time.time() - t0, 1), "best": entry(best), "pareto_front": [entry(i) for i in front],
              "front_choice_frequency": choice_frequency(space, G[front]),
              "history": evo.state.history}
    result["plots"] = {
        "pareto": pareto_plot(out / "pareto.png", lat, acc, feasible, front, best, budget.latency_ms, name),
        "convergence": convergence_plot(out / "convergence.png", evo.state.history, "convergence"),
    }
    atomic_write_json(out / "result.json", result)
    atomic_write_json(out / "best.arch.json", {"space": space.describe(), "arch": result["best"]["arch"], "name": name,
                                               "predicted_latency_ms": result["best"]["latency_ms"],
                                               "estimated_accuracy": result["best"]["accuracy"], "target": target_name})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(evo.state.history[0]))
    w.writeheader()
    w.writerows(evo.state.history)
    atomic_write_text(out / "history.csv", buf.getvalue())
    return result
