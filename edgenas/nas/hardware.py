"""The hardware-aware search problem: table latency, params, MACs and peak activation memory as hard
constraints around any vectorised accuracy estimator (the two functions between predictor and search)."""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

from ..errors import EdgenasError
from .evolution import Problem


@dataclass
class Budget:
    latency_ms: Optional[float] = None
    params_m: Optional[float] = None
    flops_m: Optional[float] = None
    peak_mem_kb: Optional[float] = None


def min_latency(space, latency: Callable[[np.ndarray], np.ndarray], sweeps: int = 3) -> np.ndarray:
    """Genotype of (near-)minimal latency by coordinate descent from the all-first-choice genotype;
    exact for additive tables such as ours."""
    g = np.zeros(len(space.genes), dtype=np.int64)
    for _ in range(sweeps):
        changed = False
        for j, gene in enumerate(space.genes):
            cand = np.repeat(g[None], len(gene.choices), 0)
            cand[:, j] = np.arange(len(gene.choices))
            best = int(np.argmin(latency(cand)))
            if best != g[j]:
                g[j], changed = best, True
        if not changed:
            break
    return g


def hardware_problem(space, latency: Callable[[np.ndarray], np.ndarray], accuracy: Callable[[np.ndarray], np.ndarray],
                     budget: Budget, mode: str = "single") -> Problem:
    """Maximise accuracy subject to ``budget`` (single) or trade accuracy against latency (pareto)."""
    if budget.latency_ms is not None:
        g_min = min_latency(space, latency)
        lat_min = float(latency(g_min[None])[0])
        if lat_min > budget.latency_ms:
            raise EdgenasError("no architecture in space '{}' meets --latency-ms {:g}: the fastest reaches {:.4f} ms ({}); "
                               "raise the budget or use a smaller space/width".format(
                                   space.name, budget.latency_ms, lat_min, space.to_string(space.decode(g_min))))
    names: List[str] = []
    if budget.latency_ms is not None:
        names.append("latency_ms")
    for attr, label in (("params_m", "params_m"), ("flops_m", "macs_m"), ("peak_mem_kb", "peak_act_kb")):
        if getattr(budget, attr) is not None:
            names.append(label)

    def constraints(G: np.ndarray) -> np.ndarray:
        cols = []
        if budget.latency_ms is not None:
            cols.append(latency(G) / budget.latency_ms - 1.0)
        if budget.params_m is not None or budget.flops_m is not None or budget.peak_mem_kb is not None:
            c = space.costs(G)
            if budget.params_m is not None:
                cols.append(c["params"] / 1e6 / budget.params_m - 1.0)
            if budget.flops_m is not None:
                cols.append(c["macs"] / 1e6 / budget.flops_m - 1.0)
            if budget.peak_mem_kb is not None:
                cols.append(c["peak_act_bytes"] / 1024 / budget.peak_mem_kb - 1.0)
        return np.stack(cols, 1) if cols else np.zeros((len(G), 1))

    cheap = None
    if mode == "pareto":
        def objectives(G: np.ndarray) -> np.ndarray:
            return np.stack([-np.asarray(accuracy(G), float), latency(G)], 1)

        def cheap(G: np.ndarray) -> np.ndarray:  # the table's latency is free; accuracy is not
            return np.stack([np.full(len(G), np.nan), latency(G)], 1)
        obj_names = ("neg_accuracy", "latency_ms")
    else:
        def objectives(G: np.ndarray) -> np.ndarray:
            return -np.asarray(accuracy(G), float)[:, None]
        obj_names = ("neg_accuracy",)
    return Problem([len(g.choices) for g in space.genes], objectives, constraints, space.canonical, obj_names, names, cheap)


def describe_costs(space, G: np.ndarray, latency) -> Dict[str, np.ndarray]:
    c = space.costs(G)
    return {"latency_ms": latency(G), "params_m": c["params"] / 1e6, "macs_m": c["macs"] / 1e6,
            "peak_act_kb": c["peak_act_bytes"] / 1024}
