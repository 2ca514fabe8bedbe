import numpy as np
import pytest

from edgenas.errors import EdgenasError
from edgenas.search.evolution import Evolution, Options, Problem
from edgenas.search.pareto import hypervolume_2d, nondominated_fronts, pareto_mask

CARDS = [4] * 12
WEIGHTS = np.arange(1, 13, dtype=float)


def knapsack(G):  # maximise value (choices x weights) s.t. a "latency" budget on the sum of choices
    return -(G * WEIGHTS).sum(1, keepdims=True).astype(float)


def budget(G):
    return (G.sum(1, keepdims=True) - 14).astype(float)


def test_single_objective_respects_constraint_and_beats_random():
    evo = Evolution(Problem(CARDS, knapsack, budget), Options(population=30, generations=30, seed=1))
    evo.run()
    G, F, V = evo.evaluated()
    best = -F[V <= 0, 0].min()
    rng = np.random.default_rng(1)
    R = (rng.random((len(G), 12)) * 4).astype(int)
    rand_best = -knapsack(R)[budget(R)[:, 0] <= 0].max()
    assert best > rand_best and (V <= 0).any()
    assert best >= 135  # optimum puts the budget on the heaviest genes: 3*12+3*11+3*10+3*9+2*8 = 142


def test_seeded_and_resumed_runs_match(tmp_path):
    opts = Options(population=12, generations=6, seed=3)
    a = Evolution(Problem(CARDS, knapsack, budget), opts)
    a.run()
    ck = tmp_path / "state.json"
    half = Options(population=12, generations=3, seed=3)
    Evolution(Problem(CARDS, knapsack, budget), half, str(ck)).run()
    import json

    data = json.loads(ck.read_text())
    data["options"]["generations"] = 6
    ck.write_text(json.dumps(data))
    b = Evolution(Problem(CARDS, knapsack, budget), opts, str(ck))
    assert b.state.generation == 3
    b.run()
    assert a.state.pop == b.state.pop and list(a.state.archive) == list(b.state.archive)


def test_exhausted_space_terminates():
    evo = Evolution(Problem([2, 2], lambda G: G.sum(1, keepdims=True).astype(float)), Options(population=4, generations=100))
    evo.run()
    assert len(evo.state.archive) == 4 and evo.state.generation < 100


def test_pareto_mode_returns_nondominated_front():
    def two(G):
        return np.stack([-(G * WEIGHTS).sum(1), G.sum(1)], 1).astype(float)

    evo = Evolution(Problem(CARDS, two, objective_names=("v", "c")), Options(mode="pareto", population=20, generations=10))
    evo.run()
    P = np.array(evo.state.pop)
    F = two(P)
    assert pareto_mask(F).sum() >= 5
    with pytest.raises(EdgenasError, match="mode"):
        Evolution(Problem(CARDS, two), Options(mode="nsga"))


def test_pareto_helpers():
    F = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0]])
    assert pareto_mask(F).tolist() == [True, True, True, False]
    assert hypervolume_2d(F, np.array([4.0, 4.0])) == pytest.approx(3 + 2 + 1)
    fronts = nondominated_fronts(F, np.array([0, 0, 0, 0.0]))
    assert sorted(fronts[0].tolist()) == [0, 1, 2] and fronts[1].tolist() == [3]
    fronts = nondominated_fronts(F, np.array([0, 1.0, 0, 0]))
    assert 1 in fronts[-1].tolist()
