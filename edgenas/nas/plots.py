"""PNG plots of a search run (matplotlib, Agg backend; skipped with a note where it is missing)."""

from typing import List, Optional

import numpy as np


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def pareto_plot(path, lat_all, acc_all, feasible, front_idx, best: Optional[int], budget: Optional[float], title: str):
    plt = _plt()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(lat_all[~feasible], acc_all[~feasible], s=8, c="0.8", label="infeasible")
    ax.scatter(lat_all[feasible], acc_all[feasible], s=8, c="tab:blue", alpha=0.5, label="evaluated")
    order = front_idx[np.argsort(lat_all[front_idx])]
    ax.plot(lat_all[order], acc_all[order], "-o", c="tab:orange", ms=4, label="Pareto front")
    if best is not None:
        ax.scatter([lat_all[best]], [acc_all[best]], marker="*", s=220, c="tab:red", zorder=5, label="chosen")
    if budget is not None:
        ax.axvline(budget, ls="--", c="k", lw=0.8, label="latency budget")
    ax.set(xlabel="predicted latency (ms)", ylabel="estimated accuracy (%)", title=title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def convergence_plot(path, history: List[dict], curve: List[List[float]], title: str):
    """Best feasible accuracy vs evaluations (a step at every improvement) and the elites' state."""
    plt = _plt()
    if plt is None:
        return None
    g = [h["evals"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    if curve:
        a1.step([c[0] for c in curve], [c[1] for c in curve], where="post", c="tab:red", label="best feasible")
    a1.plot(g, [-h["mean"] for h in history], "-", c="0.5", label="elite mean")
    a1.set(xlabel="evaluations", ylabel="estimated accuracy (%)", title=title)
    a1.legend(fontsize=8)
    a2.plot(g, [h["diversity"] for h in history], "-o", ms=3, c="tab:green", label="diversity")
    a2.plot(g, [h["feasible_frac"] for h in history], "-", c="tab:purple", label="feasible fraction")
    a2.set(xlabel="evaluations", ylim=(0, 1.05), title="elites")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
