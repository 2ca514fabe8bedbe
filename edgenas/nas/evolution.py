"""Sample-efficient evolutionary search over categorical genotypes (numpy only).

A ``Problem`` is a list of choice counts plus vectorised callables of a genotype batch ``G`` (n, genes):

- ``objectives(G) -> (n, m)``, minimised, is EXPENSIVE (a supernet pass, a training run). The budget
  ``Options.max_evals`` counts exactly its rows, and no genotype is scored twice.
- ``constraints(G) -> (n, k)``, feasible where every column <= 0, must be CHEAP (a latency table, a
  parameter count): the engine calls it on thousands of candidates and never spends an expensive
  evaluation on one it rejects. So are ``canonical`` (one genotype per equivalent class) and
  ``cheap_objectives`` (the free objective columns, NaN where only ``objectives`` knows).

Each generation proposes many candidates around the elites (1-2 gene and segment moves of the
incumbent, mutations, crossovers, some random), drops duplicates and infeasible ones, ranks the rest
with a surrogate fitted online to the evaluations so far (``surrogate.py``; optimistic: mean - kappa *
std), improves the best of them by a cheap local search on that ranking, and evaluates only the top
batch (spread GP-BUCB style).
Modes: ``single`` (constrained, minimise objective 0) and ``pareto`` (NSGA-II elites, candidates
screened by predicted non-domination). The budget is spent exactly unless the space runs out of new
feasible genotypes (``State.stop_reason`` says so). Seeded, deterministic, checkpointed every generation:
a killed search resumes to the same result.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..errors import EdgenasError
from ..util.io import atomic_write_json
from . import defaults
from .pareto import crowding_distance
from .surrogate import Surrogate

Batch = Callable[[np.ndarray], np.ndarray]
ENUMERATE_MAX = 1 << 16  # spaces up to this size are enumerated before declaring them exhausted
FIT_MAX = 800  # evaluations the surrogate is fitted on, at most


@dataclass
class Problem:
    cardinalities: Sequence[int]
    objectives: Batch  # expensive: (n, m) minimised
    constraints: Optional[Batch] = None  # cheap: (n, k) feasible where <= 0
    canonical: Optional[Batch] = None  # cheap: one genotype per class of equivalent ones
    objective_names: Sequence[str] = ("objective",)
    constraint_names: Sequence[str] = ()
    cheap_objectives: Optional[Batch] = None  # cheap: (n, m) with NaN in the expensive columns


@dataclass
class Options:
    mode: str = "single"  # single | pareto
    population: int = 16  # elites that parent the proposals (NSGA-II parents in pareto mode)
    generations: Optional[int] = None  # cap on generations after the initial design; None: spend the budget
    max_evals: Optional[int] = None  # expensive evaluations; None: defaults.classic_evaluations
    mutation: Optional[float] = None  # per-gene probability; None: 2 / number of genes
    crossover: float = 0.5
    tournament: int = 3
    seed: int = 0
    batch: Optional[int] = None  # evaluations per generation; None: from the budget (defaults.py)
    initial: Optional[int] = None  # random initial design; None: from the budget
    candidates: int = 1000  # proposals screened per generation
    screen: bool = True  # False: evaluate random proposals (plain evolution, for comparison)
    kappa: Optional[float] = None  # optimism: rank by mean - kappa * std; None: defaults.KAPPA
    climb: int = 5  # rounds of cheap local search on the surrogate's ranking per generation


@dataclass
class State:
    generation: int = 0
    pop: List[List[int]] = field(default_factory=list)
    archive: Dict[str, List[float]] = field(default_factory=dict)  # genotype key -> objectives + violation
    history: List[Dict[str, float]] = field(default_factory=list)
    rng: Optional[dict] = None
    hp: Dict[str, list] = field(default_factory=dict)  # surrogate hyper-parameters per objective column
    stop_reason: str = ""
    done: bool = False


def _margin(F: np.ndarray, front: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """How far each row of ``F`` lies inside the region ``front`` dominates (negative: outside it,
    i.e. non-dominated, by that scaled margin)."""
    if not len(front):
        return np.zeros(len(F))
    return ((F[:, None] - front[None]) / scale).min(2).max(1)


def _key(g: np.ndarray) -> str:
    return ",".join(map(str, g.tolist()))


class Evolution:
    def __init__(self, problem: Problem, options: Options, checkpoint: Optional[str] = None) -> None:
        o = options
        if o.mode not in ("single", "pareto"):
            raise EdgenasError("search mode must be 'single' or 'pareto', not '{}'".format(o.mode))
        if o.population < 2:
            raise EdgenasError("population must be at least 2")
        self.p, self.o = problem, o
        self.cards = np.asarray(problem.cardinalities, dtype=np.int64)
        self.mutation = o.mutation if o.mutation is not None else min(0.5, 2.0 / len(self.cards))
        if o.max_evals is not None:
            self.budget = int(o.max_evals)
        else:
            self.budget = (defaults.classic_evaluations(o.population, o.generations) if o.generations is not None
                           else defaults.DEFAULT_BUDGET)
        legacy = o.max_evals is None and o.generations is not None  # "population x generations": batch = population
        self.batch = max(1, o.batch or (o.population if legacy else defaults.batch_for(self.budget)))
        self.initial = max(1, min(self.budget, o.initial or defaults.initial_for(self.budget)))
        self.kappa = defaults.KAPPA if o.kappa is None else o.kappa
        self.n_obj = len(problem.objective_names)
        self.model = Surrogate(self.cards)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.state = State()
        self.rng = np.random.default_rng(o.seed)
        if self.checkpoint and self.checkpoint.is_file():
            self._load()

    # --- cheap side: canonical form, dedup, constraints -------------------------------------------
    def _violation(self, G: np.ndarray) -> np.ndarray:
        if self.p.constraints is None or not len(G):
            return np.zeros(len(G))
        C = np.asarray(self.p.constraints(G), float).reshape(len(G), -1)
        return np.clip(C, 0, None).sum(1)

    def _fresh(self, G: np.ndarray):
        """Canonical rows of ``G`` not evaluated yet, each once, in order; with their violation."""
        G = self.p.canonical(G) if self.p.canonical is not None and len(G) else G
        seen, keep = set(self.state.archive), []
        for i, g in enumerate(G):
            k = _key(g)
            if k not in seen:
                seen.add(k)
                keep.append(i)
        G = np.asarray(G, dtype=np.int64)[keep].reshape(-1, len(self.cards))
        return G, self._violation(G)

    def _random(self, n: int) -> np.ndarray:
        return (self.rng.random((n, len(self.cards))) * self.cards).astype(np.int64)

    def _repair(self, G: np.ndarray, V: np.ndarray, rounds: int = 30) -> np.ndarray:
        """Greedy single-gene moves that lower the (cheap) violation: reaches a feasible region that
        random sampling misses, without one expensive evaluation."""
        for _ in range(rounds):
            if (V <= 0).all():
                break
            M = self._local(G, 1)
            VM = self._violation(M)
            better = VM < V
            G, V = np.where(better[:, None], M, G), np.where(better, VM, V)
        return G

    # --- proposals ---------------------------------------------------------------------------------
    def _local(self, G: np.ndarray, genes: int) -> np.ndarray:
        """Each row with ``genes`` randomly chosen genes moved to another choice."""
        G = G.copy()
        r = np.arange(len(G))
        for _ in range(genes):
            j = self.rng.integers(0, len(self.cards), len(G))
            c = self.cards[j]
            G[r, j] = (G[r, j] + 1 + (self.rng.random(len(G)) * np.maximum(c - 1, 1)).astype(np.int64)) % c
        return G

    def _segment(self, G: np.ndarray) -> np.ndarray:
        """Each row with a run of 2-8 neighbouring genes redrawn (e.g. a layer's depth and its choices)."""
        G = G.copy()
        start = self.rng.integers(0, len(self.cards), len(G))
        length = self.rng.integers(2, 9, len(G))
        cols = np.arange(len(self.cards))
        mask = (cols >= start[:, None]) & (cols < (start + length)[:, None])
        return np.where(mask, self._random(len(G)), G)

    def _moves(self, G: np.ndarray) -> np.ndarray:
        """Local moves, a third each: one gene, two genes, a segment."""
        t = len(G) // 3
        return np.vstack([self._local(G[:t], 1), self._local(G[t:2 * t], 2), self._segment(G[2 * t:])])

    def _mutate(self, G: np.ndarray) -> np.ndarray:
        mask = self.rng.random(G.shape) < self.mutation
        shift = 1 + (self.rng.random(G.shape) * np.maximum(self.cards - 1, 1)).astype(np.int64)
        out = np.where(mask, (G + shift) % self.cards, G)
        none = ~mask.any(1)
        out[none] = self._local(G[none], 1)
        return out

    def _tournament(self, rank: np.ndarray, n: int) -> np.ndarray:
        picks = self.rng.integers(0, len(rank), size=(n, max(1, self.o.tournament)))
        return picks[np.arange(n), np.argmin(rank[picks], axis=1)]

    def _propose(self, P: np.ndarray, incumbents: np.ndarray, n: int) -> np.ndarray:
        """A quarter each: local moves of the incumbents, mutated elites, crossed + mutated elites,
        random genotypes."""
        q = max(1, n // 4)
        rank = np.arange(len(P), dtype=float)  # P is sorted best first
        local = self._moves(incumbents[self.rng.integers(0, len(incumbents), q)])
        mut = self._mutate(P[self._tournament(rank, q)])
        a, b = P[self._tournament(rank, q)], P[self._tournament(rank, q)]
        take_b = (self.rng.random(a.shape) < 0.5) & (self.rng.random(q) < self.o.crossover)[:, None]
        cx = self._mutate(np.where(take_b, b, a))
        return np.vstack([local, mut, cx, self._random(max(1, n - 3 * q))])

    def _candidates(self, n: int) -> np.ndarray:
        """New, unique, cheaply feasible genotypes, proposed from the elites (or at random at first)."""
        if self.state.pop:
            P = np.array(self.state.pop, dtype=np.int64)
            G, V = self._fresh(self._propose(P, self._incumbents(P), self.o.candidates))
        else:
            G, V = self._fresh(self._random(max(self.o.candidates, 20 * n)))
        if (V <= 0).sum() < n:  # scarce: more random ones, repaired towards feasibility
            R, VR = self._fresh(self._random(max(self.o.candidates, 20 * n)))
            R, VR = self._fresh(np.vstack([G, self._repair(R, VR)]))
            G, V = R, VR
        if not (V <= 0).any() and int(np.prod(self.cards.astype(float))) <= ENUMERATE_MAX:
            G, V = self._fresh(np.stack(np.unravel_index(np.arange(int(np.prod(self.cards))), self.cards), 1))
        return G[V <= 0]

    # --- selection ---------------------------------------------------------------------------------
    def _order(self, F: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Indices best first: feasible before infeasible (by violation); among feasible, objective 0
        (single) or non-dominated front then crowding (pareto)."""
        feas = np.flatnonzero(V <= 0)
        infeas = np.flatnonzero(V > 0)
        infeas = infeas[np.argsort(V[infeas], kind="stable")]
        if self.o.mode == "single":
            return np.concatenate([feas[np.argsort(F[feas, 0], kind="stable")], infeas]).astype(np.int64)
        out, left = [], feas
        while left.size and len(out) < self.o.population:
            Fl = F[left]
            dom = ((Fl[None] <= Fl[:, None]).all(2) & (Fl[None] < Fl[:, None]).any(2)).any(1)
            front = left[~dom]
            out.extend(front[np.argsort(-crowding_distance(F[front]), kind="stable")].tolist())
            left = left[dom]
        return np.concatenate([np.array(out, dtype=np.int64), left, infeas]).astype(np.int64)

    def _incumbents(self, P: np.ndarray) -> np.ndarray:
        """The best feasible genotype (single) or the evaluated feasible front (pareto)."""
        G, F, V = self.evaluated()
        ok = V <= 0
        if self.o.mode == "single" or not ok.any():
            return P[:1]
        Fo = F[ok]
        dom = ((Fo[None] <= Fo[:, None]).all(2) & (Fo[None] < Fo[:, None]).any(2)).any(1)
        return G[ok][~dom]

    def _cheap(self, X: np.ndarray) -> np.ndarray:
        if self.p.cheap_objectives is None:
            return np.full((len(X), self.n_obj), np.nan)
        return np.asarray(self.p.cheap_objectives(X), float).reshape(len(X), self.n_obj)

    def _screen(self, C: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` candidates the surrogate ranks best (optimistically), after a cheap local search
        on that ranking; random ones while it has too little data or with screening off."""
        G, F, V = self.evaluated()
        if not self.o.screen or len(G) < 5 or len(C) <= k:
            return C[self.rng.permutation(len(C))[:k]]
        if len(G) > FIT_MAX:  # the GP is cubic in its data: keep the best half and the latest half
            keep = np.union1d(self._order(F, V)[: FIT_MAX // 2], np.arange(len(G) - FIT_MAX // 2, len(G)))
            G, F, V = G[keep], F[keep], V[keep]
        fits = {}
        for j in np.flatnonzero(np.isnan(self._cheap(C[:1]))[0]):
            hp = self.state.hp.get(str(j))
            if hp is None or len(G) >= hp[2] * 1.25 + 4:  # re-tune as the data grow
                hp = list(self.model.tune(G, F[:, j])) + [len(G)]
                self.state.hp[str(j)] = hp
            fits[int(j)] = self.model.fit(G, F[:, j], (hp[0], hp[1]))

        def predict(X):  # optimistic and mean objective vectors
            opt, mean = self._cheap(X), self._cheap(X)
            for j, fit in fits.items():
                mu, sd = fit.predict(X)
                opt[:, j], mean[:, j] = mu - self.kappa * sd, mu
            return opt, mean

        front = F[V <= 0]
        if self.o.mode == "single":
            C, _ = self._climb(C, lambda X: predict(X)[0][:, 0])
            return C[fits[0].batch(C[: max(4 * k, 64)], k, self.kappa)]
        scale = np.ptp(np.vstack([front, predict(C)[1]]), 0) + 1e-12
        C, _ = self._climb(C, lambda X: _margin(predict(X)[0], front, scale))
        C = C[: max(8 * k, 128)]
        opt, mean = predict(C)
        picks: List[int] = []
        for _ in range(k):  # each pick joins the front at its predicted mean, so the picks spread
            m = _margin(opt, front, scale)
            m[picks] = np.inf
            picks.append(int(np.argmin(m)))
            front = np.vstack([front, mean[picks[-1]:picks[-1] + 1]])
        return C[picks]

    def _climb(self, C: np.ndarray, score: Callable[[np.ndarray], np.ndarray]):
        """Cheap local search on the surrogate's score (lower is better): local moves of the best
        candidates, new feasible ones only. Returns all candidates seen, best first."""
        s = score(C)
        seen = {_key(g) for g in C}
        for _ in range(self.o.climb):
            top = C[np.argsort(s, kind="stable")[:20]]
            N, VN = self._fresh(self._moves(np.repeat(top, 20, 0)[self.rng.permutation(20 * len(top))]))
            new = [i for i, g in enumerate(N) if VN[i] <= 0 and _key(g) not in seen]
            if not new:
                break
            N = N[new]
            seen.update(_key(g) for g in N)
            C, s = np.vstack([C, N]), np.concatenate([s, score(N)])
        order = np.argsort(s, kind="stable")
        return C[order], s[order]

    # --- main loop ---------------------------------------------------------------------------------
    def run(self, on_generation: Optional[Callable[[int, Dict[str, float]], None]] = None) -> "State":
        s = self.state
        while not s.done:
            left = self.budget - len(s.archive)
            if left <= 0 or (self.o.generations is not None and s.generation >= self.o.generations and s.archive):
                if left > 0:
                    s.stop_reason = "stopped at the generation cap ({}) with {} of {} evaluations spent".format(
                        self.o.generations, len(s.archive), self.budget)
                s.done = True
                self._save()
                break
            first = not s.archive
            k = min(left, self.initial if first else self.batch)
            C = self._candidates(k)
            if not len(C):
                s.stop_reason = "the space has no new feasible architecture: {} unique ones evaluated of the {} asked".format(
                    len(s.archive), self.budget)
                s.done = True
                self._save()
                break
            self._spend(C[:k] if first else self._screen(C, k))
            s.generation += 0 if first else 1
            self._record()
            self._save()
            if on_generation:
                on_generation(s.generation, s.history[-1])
        return s

    def _spend(self, G: np.ndarray) -> None:
        """The expensive part: objectives for new genotypes, archived with their violation."""
        F = np.asarray(self.p.objectives(G), float).reshape(len(G), self.n_obj)
        V = self._violation(G)
        for g, f, v in zip(G, F, V):
            self.state.archive[_key(g)] = [float(x) for x in f] + [float(v)]

    def _record(self) -> None:
        G, F, V = self.evaluated()
        order = self._order(F, V)[: self.o.population]
        self.state.pop = G[order].tolist()
        P, feas = G[order], V[order] <= 0
        self.state.history.append({
            "generation": self.state.generation, "evals": len(G), "feasible_frac": float(feas.mean()),
            "best": float(F[V <= 0, 0].min()) if (V <= 0).any() else float("nan"),
            "mean": float(F[order][feas, 0].mean()) if feas.any() else float("nan"),
            "diversity": float(np.mean([len(np.unique(P[:, j])) / c for j, c in enumerate(self.cards) if c > 1] or [0.0]))})

    # --- results -----------------------------------------------------------------------------------
    def evaluated(self):
        """(genotypes, objectives, violation) of every architecture scored so far, in evaluation order."""
        keys = list(self.state.archive)
        if not keys:
            return np.zeros((0, len(self.cards)), np.int64), np.zeros((0, self.n_obj)), np.zeros(0)
        G = np.array([[int(x) for x in k.split(",")] for k in keys], dtype=np.int64)
        R = np.array([self.state.archive[k] for k in keys])
        return G, R[:, : self.n_obj], R[:, -1]

    def curve(self) -> List[List[float]]:
        """[[evaluations, best feasible objective 0]] at every improvement, and at the last evaluation."""
        _, F, V = self.evaluated()
        out, best = [], np.inf
        for i, (f, v) in enumerate(zip(F[:, 0], V)):
            if v <= 0 and f < best:
                best = float(f)
                out.append([i + 1, best])
        if len(F) and (not out or out[-1][0] != len(F)) and np.isfinite(best):
            out.append([len(F), best])
        return out

    # --- checkpoint --------------------------------------------------------------------------------
    def _save(self) -> None:
        if self.checkpoint is None:
            return
        st = self.state
        st.rng = self.rng.bit_generator.state
        atomic_write_json(self.checkpoint, {"options": self.o.__dict__, "generation": st.generation, "pop": st.pop,
                                            "archive": st.archive, "history": st.history, "rng": st.rng, "hp": st.hp,
                                            "stop_reason": st.stop_reason, "done": st.done}, indent=None)

    def _load(self) -> None:
        try:
            data = json.loads(self.checkpoint.read_text())
        except ValueError:
            raise EdgenasError("search checkpoint {} is corrupt; delete it to start over".format(self.checkpoint))
        if data.get("options") != self.o.__dict__:
            raise EdgenasError("search checkpoint {} was written with other options; delete it or use another --out".format(self.checkpoint))
        self.state = State(data["generation"], data["pop"], data["archive"], data["history"], data["rng"],
                           data.get("hp", {}), data.get("stop_reason", ""), data.get("done", False))
        self.rng.bit_generator.state = data["rng"]
