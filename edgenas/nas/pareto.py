"""Pareto utilities (minimisation): constrained non-dominated sorting, crowding distance, 2-D hypervolume."""

from typing import List

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def nondominated_fronts(F: np.ndarray, violation: np.ndarray) -> List[np.ndarray]:
    """NSGA-II fronts with Deb's constraint domination: feasible beats infeasible, less violation beats more."""
    n = len(F)
    feas = violation <= 0
    dominated_by = [[] for _ in range(n)]
    count = np.zeros(n, dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            if feas[i] and feas[j]:
                ij, ji = dominates(F[i], F[j]), dominates(F[j], F[i])
            elif feas[i] != feas[j]:
                ij, ji = bool(feas[i]), bool(feas[j])
            else:
                ij, ji = violation[i] < violation[j], violation[j] < violation[i]
            if ij:
                dominated_by[i].append(j)
                count[j] += 1
            elif ji:
                dominated_by[j].append(i)
                count[i] += 1
    fronts, current = [], np.flatnonzero(count == 0)
    while current.size:
        fronts.append(current)
        nxt = []
        for i in current:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(j)
        current = np.array(sorted(nxt), dtype=np.int64)
    return fronts


def crowding_distance(F: np.ndarray) -> np.ndarray:
    n, m = F.shape
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(F[:, k], kind="stable")
        span = F[order[-1], k] - F[order[0], k]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (F[order[2:], k] - F[order[:-2], k]) / span
    return d


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Non-dominated points of ``F`` (all feasible), minimisation."""
    order = np.lexsort(F.T[::-1])
    keep = np.zeros(len(F), dtype=bool)
    best_second = np.inf
    for i in order:  # 2-D sweep; falls back to pairwise checks for more objectives
        if F.shape[1] == 2:
            if F[i, 1] < best_second:
                keep[i] = True
                best_second = F[i, 1]
        else:
            keep[i] = not any(dominates(F[j], F[i]) for j in range(len(F)) if j != i)
    return keep


def hypervolume_2d(F: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by the points of ``F`` (minimisation) and bounded by ``ref``."""
    P = F[np.all(F < ref, axis=1)]
    if not len(P):
        return 0.0
    P = P[pareto_mask(P)]
    P = P[np.argsort(P[:, 0])]
    hv, prev_y = 0.0, ref[1]
    for x, yv in P:
        hv += (ref[0] - x) * (prev_y - yv)
        prev_y = yv
    return float(hv)
