"""The search defaults, defined once and derived from the evaluation budget: the API, the CLI, the
pipeline and the benchmarks all ask here, so "300 evaluations" means the same search everywhere.
Tuned on benchmark seeds 100-109 (tools/bench_search.py), reported on others."""

import math
from typing import Optional, Tuple

from ..errors import EdgenasError

DEFAULT_BUDGET = 100
KAPPA = 4.0  # optimism of the surrogate ranking, mean - KAPPA * std (1, 2, 3, 4, 6, 10 tried; 3-6 best)


def population_for(budget: int) -> int:
    """Elites that parent the proposals: few at small budgets (exploit), more at large ones."""
    return int(min(32, max(8, round(math.sqrt(budget)))))


def batch_for(budget: int) -> int:
    """Expensive evaluations per generation (the surrogate is refitted between batches)."""
    return int(min(32, max(2, round(math.sqrt(budget) / 2))))


def initial_for(budget: int) -> int:
    """Random (feasible) initial design before the surrogate takes over."""
    return int(min(40, max(8, round(0.1 * budget))))


def classic_evaluations(population: int, generations: int) -> int:
    """Classic evolution's evaluation count: the initial population, then one population per generation."""
    return population * (generations + 1)


def resolve(budget: Optional[int] = None, population: Optional[int] = None,
            generations: Optional[int] = None) -> Tuple[int, Optional[int], int]:
    """(population, generations cap or None, max_evals) for what the user gave. The budget wins when
    given; without one, population and generations give population x (generations + 1) evaluations,
    as in classic evolution, all spent (no cap then)."""
    if budget is None and population is not None and generations is not None:
        budget, generations = classic_evaluations(population, generations), None
    budget = DEFAULT_BUDGET if budget is None else int(budget)
    if budget < 1:
        raise EdgenasError("the budget must be at least 1 evaluation, not {}".format(budget))
    pop = population or population_for(budget)
    if pop > budget:
        raise EdgenasError("population {} is larger than the budget of {} evaluations; lower --population or raise "
                           "--budget".format(pop, budget))
    return pop, generations, budget
