"""A generic evolutionary search over categorical genotypes (numpy only).

A ``Problem`` is a list of choice counts plus vectorised callables: ``objectives(G) -> (n, m)`` to
minimise and ``constraints(G) -> (n, k)`` feasible where <= 0. Two modes: ``single`` (constrained
single objective, elitist mu+lambda with tournament selection) and ``pareto`` (NSGA-II). Seeded and
deterministic; state is checkpointed every generation so a killed search resumes to the same result.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..errors import EdgenasError
from ..util.io import atomic_write_json
from .pareto import crowding_distance, nondominated_fronts

Batch = Callable[[np.ndarray], np.ndarray]


@dataclass
class Problem:
    cardinalities: Sequence[int]
    objectives: Batch
    constraints: Optional[Batch] = None
    canonical: Optional[Batch] = None
    objective_names: Sequence[str] = ("objective",)
    constraint_names: Sequence[str] = ()


@dataclass
class Options:
    mode: str = "single"  # single | pareto
    population: int = 50
    generations: int = 20
    max_evals: Optional[int] = None
    mutation: Optional[float] = None  # per-gene probability; None: 2 / number of genes
    crossover: float = 0.5
    tournament: int = 3
    seed: int = 0


@dataclass
class State:
    generation: int = 0
    pop: List[List[int]] = field(default_factory=list)
    archive: Dict[str, List[float]] = field(default_factory=dict)  # genotype key -> objectives + violations
    history: List[Dict[str, float]] = field(default_factory=list)
    rng: Optional[dict] = None


def _key(g: np.ndarray) -> str:
    return ",".join(map(str, g.tolist()))


class Evolution:
    def __init__(self, problem: Problem, options: Options, checkpoint: Optional[str] = None) -> None:
        if options.mode not in ("single", "pareto"):
            raise EdgenasError("search mode must be 'single' or 'pareto', not '{}'".format(options.mode))
        if options.population < 4:
            raise EdgenasError("population must be at least 4")
        self.p, self.o = problem, options
        self.cards = np.asarray(problem.cardinalities, dtype=np.int64)
        self.mutation = options.mutation if options.mutation is not None else min(0.5, 2.0 / len(self.cards))
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.state = State()
        self.rng = np.random.default_rng(options.seed)
        self.n_obj = len(problem.objective_names)
        if self.checkpoint and self.checkpoint.is_file():
            self._load()

    # --- evaluation -----------------------------------------------------------------------------
    def _canon(self, G: np.ndarray) -> np.ndarray:
        return self.p.canonical(G) if self.p.canonical else G

    def _evaluate(self, G: np.ndarray) -> np.ndarray:
        """Rows of objectives + total violation; cached in the archive so nothing is scored twice."""
        keys = [_key(g) for g in G]
        todo = [i for i, k in enumerate(keys) if k not in self.state.archive]
        if todo:
            sub = G[todo]
            F = np.asarray(self.p.objectives(sub), float).reshape(len(sub), self.n_obj)
            V = np.zeros(len(sub))
            if self.p.constraints is not None:
                C = np.asarray(self.p.constraints(sub), float).reshape(len(sub), -1)
                V = np.clip(C, 0, None).sum(1)
            for i, f, v in zip(todo, F, V):
                self.state.archive[keys[i]] = [float(x) for x in f] + [float(v)]
        return np.array([self.state.archive[k] for k in keys])

    def _budget_left(self) -> float:
        return np.inf if self.o.max_evals is None else self.o.max_evals - len(self.state.archive)

    # --- variation ------------------------------------------------------------------------------
    def _new_unique(self, candidates: np.ndarray, n: int, seen: set) -> np.ndarray:
        out = []
        for g in self._canon(candidates):
            k = _key(g)
            if k not in seen:
                seen.add(k)
                out.append(g)
            if len(out) == n:
                break
        return np.array(out, dtype=np.int64).reshape(-1, len(self.cards))

    def _random(self, n: int) -> np.ndarray:
        return (self.rng.random((n, len(self.cards))) * self.cards).astype(np.int64)

    def _mutate(self, G: np.ndarray) -> np.ndarray:
        G = G.copy()
        mask = self.rng.random(G.shape) < self.mutation
        shift = 1 + (self.rng.random(G.shape) * np.maximum(self.cards - 1, 1)).astype(np.int64)
        G[mask] = ((G + shift) % self.cards)[mask]
        return G

    def _crossover(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        do = self.rng.random(len(A)) < self.o.crossover
        take_b = (self.rng.random(A.shape) < 0.5) & do[:, None]
        return np.where(take_b, B, A)

    # --- selection ------------------------------------------------------------------------------
    def _rank(self, R: np.ndarray) -> np.ndarray:
        """Lower is better: a scalar rank for every row of evaluated results."""
        F, V = R[:, : self.n_obj], R[:, -1]
        if self.o.mode == "single":
            order = np.lexsort((F[:, 0], V > 0, V))  # feasible first, then less violation, then objective
            rank = np.empty(len(R))
            rank[order] = np.arange(len(R))
            return rank
        rank = np.empty(len(R))
        base = 0.0
        for front in nondominated_fronts(F, V):
            cd = crowding_distance(F[front])
            order = np.argsort(-cd, kind="stable")
            rank[front[order]] = base + np.arange(len(front)) / (len(front) + 1.0)
            base += 1.0
        return rank

    def _tournament(self, rank: np.ndarray, n: int) -> np.ndarray:
        picks = self.rng.integers(0, len(rank), size=(n, self.o.tournament))
        return picks[np.arange(n), np.argmin(rank[picks], axis=1)]

    # --- main loop ------------------------------------------------------------------------------
    def run(self, on_generation: Optional[Callable[[int, Dict[str, float]], None]] = None) -> State:
        s = self.state
        if not s.pop:
            seen: set = set()
            init = self._new_unique(self._random(self.o.population * 4), int(min(self.o.population, self._budget_left())), seen)
            s.pop = init.tolist()
            self._record(np.array(s.pop), self._evaluate(np.array(s.pop)))
            self._save()
            if on_generation:
                on_generation(s.generation, s.history[-1])
        while s.generation < self.o.generations and self._budget_left() > 0:
            P = np.array(s.pop, dtype=np.int64)
            R = self._evaluate(P)
            rank = self._rank(R)
            n_child = int(min(self.o.population, self._budget_left()))
            seen = set(s.archive)
            children = np.empty((0, len(self.cards)), dtype=np.int64)
            for _ in range(20):  # bounded: a space nearly exhausted cannot loop forever
                a, b = self._tournament(rank, n_child * 2), self._tournament(rank, n_child * 2)
                cand = self._mutate(self._crossover(P[a], P[b]))
                children = np.vstack([children, self._new_unique(cand, n_child - len(children), seen)])
                if len(children) >= n_child:
                    break
            if not len(children):
                break
            C = np.vstack([P, children])
            RC = self._evaluate(C)
            keep = np.argsort(self._rank(RC), kind="stable")[: self.o.population]
            s.pop = C[keep].tolist()
            s.generation += 1
            self._record(C[keep], RC[keep])
            self._save()
            if on_generation:
                on_generation(s.generation, s.history[-1])
        return s

    def _record(self, P: np.ndarray, R: np.ndarray) -> None:
        F, V = R[:, : self.n_obj], R[:, -1]
        feas = V <= 0
        h = {"generation": self.state.generation, "evals": len(self.state.archive), "feasible_frac": float(feas.mean()),
             "best": float(F[feas, 0].min()) if feas.any() else float("nan"),
             "mean": float(F[feas, 0].mean()) if feas.any() else float("nan"),
             "diversity": float(np.mean([len(np.unique(P[:, j])) / c for j, c in enumerate(self.cards) if c > 1]))}
        self.state.history.append(h)

    # --- results ----------------------------------------------------------------------------------
    def evaluated(self):
        """(genotypes, objectives, violation) of every architecture scored so far."""
        keys = list(self.state.archive)
        G = np.array([[int(x) for x in k.split(",")] for k in keys], dtype=np.int64)
        R = np.array([self.state.archive[k] for k in keys])
        return G, R[:, : self.n_obj], R[:, -1]

    # --- checkpoint -------------------------------------------------------------------------------
    def _save(self) -> None:
        if self.checkpoint is None:
            return
        st = self.state
        st.rng = self.rng.bit_generator.state
        atomic_write_json(self.checkpoint, {"options": self.o.__dict__, "generation": st.generation, "pop": st.pop,
                                            "archive": st.archive, "history": st.history, "rng": st.rng}, indent=None)

    def _load(self) -> None:
        try:
            data = json.loads(self.checkpoint.read_text())
        except ValueError:
            raise EdgenasError("search checkpoint {} is corrupt; delete it to start over".format(self.checkpoint))
        if data.get("options") != self.o.__dict__:
            raise EdgenasError("search checkpoint {} was written with other options; delete it or use another --out".format(self.checkpoint))
        self.state = State(data["generation"], data["pop"], data["archive"], data["history"], data["rng"])
        self.rng.bit_generator.state = data["rng"]
