"""The search methods bench_search compares at equal budgets of expensive evaluations.

Every method gets the same free help and the same accounting: the latency table is free, so a
genotype that breaks the latency budget never costs an evaluation (random, regularized evolution and
ours skip it; Optuna's trial is answered through ``constraints_func`` without calling the objective),
and a genotype already evaluated (after canonicalisation) is answered from a cache without counting.
Each method returns the genotypes it evaluated, in order.
"""

import numpy as np

from edgenas.nas import defaults
from edgenas.nas.evolution import Evolution, Options
from edgenas.nas.hardware import Budget, hardware_problem


class Counter:
    """The expensive objective behind a cache: counts unique calls, refuses more than the budget."""

    def __init__(self, acc, budget: int) -> None:
        self.acc, self.budget, self.cache, self.order = acc, budget, {}, []

    def full(self) -> bool:
        return len(self.order) >= self.budget

    def __call__(self, g: np.ndarray) -> float:
        k = g.tobytes()
        if k not in self.cache:
            self.cache[k] = float(self.acc(g[None])[0])
            self.order.append(g.copy())
        return self.cache[k]

    def genotypes(self) -> np.ndarray:
        return np.array(self.order)


def run_ours(space, latency, acc, budget_ms, evals, seed, mode="single", **opts):
    """The engine with its shipped defaults for ``evals`` (``mode='pareto'``: accuracy vs latency under
    the budget, for the hypervolume)."""
    prob = hardware_problem(space, latency, acc, Budget(latency_ms=budget_ms), mode)
    pop, _, _ = defaults.resolve(evals)
    evo = Evolution(prob, Options(mode=mode, population=opts.pop("population", pop), max_evals=evals, seed=seed, **opts))
    evo.run()
    return evo.evaluated()[0]


def _feasible_random(space, latency, budget_ms, rng, n):
    G = space.canonical(space.sample(rng, n))
    return G[latency(G) <= budget_ms]


def run_random(space, latency, acc, budget_ms, evals, seed):
    """Uniform random architectures that meet the latency budget (rejection sampling on the table)."""
    rng, f = np.random.default_rng(10_000 + seed), Counter(acc, evals)
    for _ in range(1000):
        for g in _feasible_random(space, latency, budget_ms, rng, 4 * evals):
            if f.full():
                return f.genotypes()
            f(g)
    return f.genotypes()


def run_regevo(space, latency, acc, budget_ms, evals, seed, population=None, sample=None):
    """Regularized (aging) evolution, Real et al. 2019: tournament of ``sample`` from a FIFO population,
    the winner's child (one gene changed) replaces the oldest."""
    P = population or int(np.clip(evals // 5, 10, 100))
    S = sample or int(np.clip(P // 4, 5, 25))
    rng, f = np.random.default_rng(20_000 + seed), Counter(acc, evals)
    cards = np.array([len(g.choices) for g in space.genes])
    pop = []
    for g in _feasible_random(space, latency, budget_ms, rng, 20 * P)[:P]:
        if not f.full():
            pop.append((g, f(g)))
    while not f.full():
        parent = max((pop[i] for i in rng.integers(0, len(pop), S)), key=lambda t: t[1])[0]
        for _ in range(200):  # a feasible child not evaluated yet (the table is free)
            child = parent.copy()
            j = int(rng.integers(0, len(cards)))
            child[j] = (child[j] + 1 + rng.integers(0, max(cards[j] - 1, 1))) % cards[j]
            child = space.canonical(child[None])[0]
            if child.tobytes() not in f.cache and latency(child[None])[0] <= budget_ms:
                break
        else:
            child = _feasible_random(space, latency, budget_ms, rng, 100)[0]
        pop.append((child, f(child)))
        pop.pop(0)
    return f.genotypes()


def run_optuna(space, latency, acc, budget_ms, evals, seed, sampler="tpe"):
    """Optuna with its constraint handling (``Trial.set_constraint``, Optuna 5's replacement for
    ``constraints_func``): TPE (its defaults) or NSGA-II."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cards = [len(g.choices) for g in space.genes]
    if sampler == "tpe":
        smp = optuna.samplers.TPESampler(seed=seed)
    else:
        smp = optuna.samplers.NSGAIISampler(population_size=int(np.clip(evals // 10, 10, 50)), seed=seed)
    study = optuna.create_study(direction="maximize", sampler=smp)
    f = Counter(acc, evals)
    worst = -1e9

    def objective(trial):
        g = np.array([trial.suggest_categorical("g{}".format(i), list(range(c))) for i, c in enumerate(cards)])
        g = space.canonical(g[None])[0]
        lat = float(latency(g[None])[0])
        trial.set_constraint("latency", lat / budget_ms - 1.0)
        if lat > budget_ms:
            return worst  # infeasible: answered by the free table, ranked by constraints_func
        return f(g)

    study.optimize(objective, n_trials=30 * evals, callbacks=[lambda st, tr: st.stop() if f.full() else None])
    return f.genotypes()


METHODS = {
    "ours": run_ours,
    "ours_pareto": lambda *a: run_ours(*a, mode="pareto"),
    "random": run_random,
    "regevo": run_regevo,
    "optuna_tpe": lambda *a: run_optuna(*a, sampler="tpe"),
    "optuna_nsga2": lambda *a: run_optuna(*a, sampler="nsga2"),
}
