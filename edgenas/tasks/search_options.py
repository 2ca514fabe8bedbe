"""The search stage's options, declared once: ``edgenas search`` flags, ``edgenas.search(...)`` keywords and the
pipeline's ``search:`` YAML keys all come from this dataclass (ranges: edgenas.util.checks, same names)."""

from dataclasses import dataclass
from typing import Literal, Optional

from ..nas.defaults import DEFAULT_BUDGET
from ..util.options import opt, pipeline_section


@dataclass
class SearchOptions:
    latency_ms: Optional[float] = opt(None, "latency budget (table-predicted, end to end), ms", pipeline=False)
    params_m: Optional[float] = opt(None, "parameter budget, millions")
    flops_m: Optional[float] = opt(None, "MAC budget, millions")
    peak_mem_kb: Optional[float] = opt(None, "peak activation memory budget (fp32 estimate), KiB")
    mode: Literal["single", "pareto"] = opt("single", "single: max accuracy s.t. budgets; pareto: NSGA-II accuracy vs latency")
    estimator: Literal["supernet", "naswot"] = opt("supernet", "accuracy estimate: the supernet's weights, or NASWOT "
                                                               "(training-free)")
    budget: Optional[int] = opt(None, "accuracy evaluations to spend, exactly (default {}); the search's sizes follow "
                                      "from it".format(DEFAULT_BUDGET))
    population: Optional[int] = opt(None, "override the elite population the budget implies")
    generations: Optional[int] = opt(None, "stop after this many generations even with budget left (without a budget: "
                                           "population x (generations + 1) evaluations)")
    mutation: Optional[float] = opt(None, "per-gene mutation probability (default: 2 / number of genes)")
    crossover: float = opt(0.5, "crossover probability")
    data: Optional[str] = opt(None, "image-folder tree, .npz, IDX folder, 'fashion-mnist' or 'digits' (default: the "
                                    "supernet's)", pipeline=False)
    val_size: int = opt(2000, "images held out of the train split to estimate accuracy on", pipeline=False)
    seed: int = opt(0, "random seed", pipeline=False)
    device: str = opt("auto", "auto (CUDA when present) | cpu | cuda | cuda:N", pipeline=False)


# The pipeline's ``search:`` section: the options above not set from the pipeline's own top-level keys.
SearchSection = pipeline_section("SearchSection", SearchOptions)
