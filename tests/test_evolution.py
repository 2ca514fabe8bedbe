import numpy as np
import pytest

from edgenas.errors import EdgenasError
from edgenas.nas.evolution import Evolution, Options, Problem
from edgenas.nas.pareto import hypervolume_2d, nondominated_fronts, pareto_mask

CARDS = [4] * 12
WEIGHTS = np.arange(1, 13, dtype=float)


def knapsack(G):  # maximise value (choices x weights) s.t. a "latency" budget on the sum of choices
    return -(G * WEIGHTS).sum(1, keepdims=True).astype(float)


def budget(G):
    return (G.sum(1, keepdims=True) - 14).astype(float)


def test_single_objective_respects_constraint_and_beats_random():
    evo = Evolution(Problem(CARDS, knapsack, budget), Options(max_evals=150, seed=1))
    evo.run()
    G, F, V = evo.evaluated()
    best = -F[V <= 0, 0].min()
    rng = np.random.default_rng(1)
    R = (rng.random((len(G), 12)) * 4).astype(int)
    rand_best = -knapsack(R)[budget(R)[:, 0] <= 0].max()
    assert best > rand_best and (V <= 0).any()
    assert best >= 135  # optimum puts the budget on the heaviest genes: 3*12+3*11+3*10+3*9+2*8 = 142


def _interrupted_after(n_calls):
    calls = []

    def objective(G):
        calls.append(len(G))
        if len(calls) > n_calls:
            raise KeyboardInterrupt
        return knapsack(G)
    return objective


def test_seeded_and_resumed_runs_match(tmp_path):
    opts = Options(max_evals=60, seed=3)
    a = Evolution(Problem(CARDS, knapsack, budget), opts)
    a.run()
    ck = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):  # killed in its 5th generation
        Evolution(Problem(CARDS, _interrupted_after(5), budget), opts, str(ck)).run()
    b = Evolution(Problem(CARDS, knapsack, budget), opts, str(ck))
    assert b.state.generation == 4 and 0 < len(b.state.archive) < 60
    b.run()
    assert a.state.pop == b.state.pop and list(a.state.archive) == list(b.state.archive)
    assert a.curve() == b.curve() and len(b.state.archive) == 60
    again = Evolution(Problem(CARDS, _interrupted_after(0), budget), opts, str(ck))  # finished: nothing re-evaluated
    again.run()
    assert list(again.state.archive) == list(a.state.archive)
    c = Evolution(Problem(CARDS, knapsack, budget), Options(max_evals=60, seed=4))
    c.run()
    assert list(c.state.archive) != list(a.state.archive)


@pytest.mark.parametrize("n", [1, 7, 37, 100])
def test_asking_for_n_evaluations_gives_n(n):
    rows = []

    def objective(G):
        rows.append(len(G))
        return knapsack(G)
    evo = Evolution(Problem(CARDS, objective, budget), Options(max_evals=n, seed=0))
    evo.run()
    G, _, V = evo.evaluated()
    assert sum(rows) == len(G) == n and evo.state.stop_reason == ""
    assert len({tuple(g) for g in G}) == n and (V <= 0).all()  # unique, and never an infeasible one (constraints are cheap)
    assert [c[0] for c in evo.curve()][-1] == n


def test_exhausted_space_terminates():
    evo = Evolution(Problem([2, 2], lambda G: G.sum(1, keepdims=True).astype(float)), Options(population=4, generations=100))
    evo.run()
    assert len(evo.state.archive) == 4 and evo.state.generation < 100
    assert "no new feasible architecture" in evo.state.stop_reason


def test_exhausted_feasible_set_gives_fewer_and_says_why():
    cap = lambda G: (G.sum(1, keepdims=True) - 1).astype(float)  # noqa: E731  feasible: at most one gene at 1
    evo = Evolution(Problem([3] * 4, knapsack_small, cap), Options(max_evals=50, seed=0))
    evo.run()
    G, _, V = evo.evaluated()
    assert len(G) == 5 and (V <= 0).all()
    assert "5 unique ones evaluated of the 50 asked" in evo.state.stop_reason


def knapsack_small(G):
    return -(G * np.arange(1, G.shape[1] + 1)).sum(1, keepdims=True).astype(float)


def test_generation_cap_is_reported():
    evo = Evolution(Problem(CARDS, knapsack, budget), Options(max_evals=100, generations=2, batch=5, initial=10, seed=0))
    evo.run()
    assert len(evo.state.archive) == 20 and "generation cap" in evo.state.stop_reason


def test_screening_beats_unscreened_at_equal_evaluations():
    # additive knapsack and a non-additive one (pairs of genes must agree); known optima 142 and 36
    def pairs(G):
        return -((G[:, ::2] == G[:, 1::2]) * (G[:, ::2] + 1) * 2).sum(1, keepdims=True).astype(float)

    for objective, cons in ((knapsack, budget), (pairs, None)):
        means = {}
        for screen in (True, False):
            best = []
            for seed in range(4):
                evo = Evolution(Problem(CARDS, objective, cons), Options(max_evals=60, seed=seed, screen=screen))
                evo.run()
                _, F, V = evo.evaluated()
                best.append(-F[V <= 0, 0].min())
            means[screen] = np.mean(best)
        assert means[True] > means[False] + 3, means


def test_pareto_mode_returns_nondominated_front():
    def two(G):
        return np.stack([-(G * WEIGHTS).sum(1), G.sum(1)], 1).astype(float)

    evo = Evolution(Problem(CARDS, two, objective_names=("v", "c")), Options(mode="pareto", population=12, generations=6))
    evo.run()
    P = np.array(evo.state.pop)
    F = two(P)
    assert pareto_mask(F).sum() >= 5
    with pytest.raises(EdgenasError, match="mode"):
        Evolution(Problem(CARDS, two), Options(mode="nsga"))


def test_pareto_screening_uses_cheap_objectives_and_spends_the_budget():
    seen = []

    def two(G):
        seen.append(len(G))
        return np.stack([-(G * WEIGHTS).sum(1), G.sum(1)], 1).astype(float)

    def cheap(G):  # the cost column is free; the value column is not
        return np.stack([np.full(len(G), np.nan), G.sum(1)], 1).astype(float)

    ref = np.array([0.0, 40.0])  # the true front's hypervolume is 6318
    hv = {True: [], False: [], "random": []}
    for seed in range(3):
        for screen in (True, False):
            seen.clear()
            evo = Evolution(Problem(CARDS, two, objective_names=("v", "c"), cheap_objectives=cheap),
                            Options(mode="pareto", max_evals=60, seed=seed, screen=screen))
            evo.run()
            _, F, _ = evo.evaluated()
            assert sum(seen) == len(F) == 60 and max(seen) <= max(evo.batch, evo.initial)
            hv[screen].append(hypervolume_2d(F[pareto_mask(F)], ref))
        R = (np.random.default_rng(seed).random((60, 12)) * 4).astype(int)
        hv["random"].append(hypervolume_2d(two(R)[pareto_mask(two(R))], ref))
    assert np.mean(hv[True]) > max(np.mean(hv[False]), np.mean(hv["random"])) + 300, hv


def test_defaults_follow_the_budget():
    from edgenas.nas.defaults import resolve

    assert resolve(300) == (17, None, 300) and resolve() == (10, None, 100)
    assert resolve(None, 10, 4) == (10, None, 50)
    assert resolve(1000, population=8, generations=3) == (8, 3, 1000)
    with pytest.raises(EdgenasError, match="larger than the budget"):
        resolve(10, population=20)


def test_pareto_helpers():
    F = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0]])
    assert pareto_mask(F).tolist() == [True, True, True, False]
    assert hypervolume_2d(F, np.array([4.0, 4.0])) == pytest.approx(3 + 2 + 1)
    fronts = nondominated_fronts(F, np.array([0, 0, 0, 0.0]))
    assert sorted(fronts[0].tolist()) == [0, 1, 2] and fronts[1].tolist() == [3]
    fronts = nondominated_fronts(F, np.array([0, 1.0, 0, 0]))
    assert 1 in fronts[-1].tolist()
