"""Host: hardware-aware search under a latency table's constraints, accuracy from the supernet."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import check_args, output_dir
from .common import PathLike, as_target


@dataclass
class SearchResult:
    run_dir: Path
    name: str
    arch: str
    latency_ms: float
    accuracy: float
    params_m: float
    macs_m: float
    evaluations: int
    seconds: float
    pareto_front: List[Dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    result: Dict[str, Any] = field(repr=False, default_factory=dict)


def search(target, table: PathLike, supernet: PathLike, out: PathLike, latency_ms: Optional[float] = None,
           params_m: Optional[float] = None, flops_m: Optional[float] = None, peak_mem_kb: Optional[float] = None,
           mode: str = "single", estimator: str = "supernet", budget: Optional[int] = None,
           population: Optional[int] = None, generations: Optional[int] = None, mutation: Optional[float] = None,
           crossover: float = 0.5, data: Optional[str] = None, val_size: int = 2000, seed: int = 0,
           device: str = "auto", progress: bool = True, precision: Optional[str] = None) -> SearchResult:
    """Maximise estimated accuracy subject to the budgets (``mode='single'``) or trade it against
    latency (``'pareto'``, NSGA-II), spending ``budget`` evaluations. Re-running resumes.
    ``precision='mixed'`` also chooses each op's precision (int8 or fp32) from a mixed table of the same
    board; by default the table decides (a mixed table searches mixed plans)."""
    check_args(dict(latency_ms=latency_ms, params_m=params_m, flops_m=flops_m, peak_mem_kb=peak_mem_kb, budget=budget,
                    population=population, generations=generations, mutation=mutation, crossover=crossover,
                    val_size=val_size, seed=seed))
    if mode not in ("single", "pareto"):
        raise EdgenasError("search mode must be 'single' or 'pareto', not '{}'".format(mode))
    if estimator not in ("supernet", "naswot"):
        raise EdgenasError("estimator must be 'supernet' or 'naswot', not '{}'".format(estimator))
    if latency_ms is None and mode == "single" and not (params_m or flops_m or peak_mem_kb):
        raise EdgenasError("give at least one budget (latency_ms, params_m, flops_m or peak_mem_kb), or use mode 'pareto'")
    from ..latency.predictor import Predictor
    from ..latency.table import LatencyTable
    from ..nas.defaults import resolve
    from ..nas.estimators import CachedEstimator, NaswotEstimator, SupernetEstimator
    from ..nas.evolution import Options
    from ..nas.hardware import Budget
    from ..nas.run import run_search
    from ..nas.session import load_supernet, prepare_data
    from ..util.torchdev import resolve_device

    t = as_target(target)
    output_dir(out, "search run folder")
    lat_table = LatencyTable.load(table)
    dev = resolve_device(device)
    net, meta = load_supernet(supernet)
    net = net.to(dev)
    space = _search_space(net.space, lat_table, precision, t, table)
    lat_table.check_matches(space=space, target=t, precision=t.precision)
    pred = Predictor(lat_table, space)
    d = prepare_data(data or meta["options"].get("data"), space.resolution, None, val_size, meta["options"]["seed"],
                     norm=meta["norm"], channels=space.config["in_channels"], device=dev,
                     num_classes=space.config["num_classes"])
    if estimator == "supernet":
        est = SupernetEstimator(net, d["val"], d["train"], space=space)
    else:
        import torch

        est = NaswotEstimator(space, d["train"].inputs(torch.arange(min(64, len(d["train"])))), seed=seed)
    pop, gens, evals = resolve(budget, population, generations)
    options = Options(mode, pop, gens, evals, mutation, crossover, 3, seed)
    resolved = {"target": t.name, "table": str(table), "supernet": str(supernet), "budget": evals, "population": pop,
                "generations": gens, "mode": mode, "estimator": estimator, "latency_ms": latency_ms, "params_m": params_m,
                "flops_m": flops_m, "peak_mem_kb": peak_mem_kb, "seed": seed, "val_size": val_size, "data": data,
                "space": space.describe(), "supernet_meta": {k: meta[k] for k in ("dataset", "options")}}
    from ..util.lock import exclusive

    with exclusive(Path(out) / ".edgenas.lock", "search run {}".format(out)):
        res = run_search(space, pred.predict, CachedEstimator(est), Budget(latency_ms, params_m, flops_m, peak_mem_kb), options,
                         out, t.name, resolved, quiet=not progress)
    b = res["best"]
    return SearchResult(Path(out), res["name"], b["arch"], b["latency_ms"], b["accuracy"], b["params_m"], b["macs_m"],
                        res["evaluations"], res["wall_s"], res["pareto_front"], res.get("stop_reason", ""), res)


def mixed_table_command(target, space, table) -> str:
    return ("edgenas profile --target {} --space {} --resolution {} --precision mixed --out {}".format(
        target.name, space.name, space.resolution, str(table).replace(".json", "") + ".mixed.json"))


def _search_space(base, table, precision: Optional[str], target, path):
    """The genotype space: the supernet's, plus per-op precision genes when the table is a mixed one."""
    from ..space.mixed import MixedSpace

    if precision not in (None, "mixed", target.precision):
        raise EdgenasError("precision '{}': target '{}' searches {} or mixed".format(precision, target.name, target.precision))
    mixed = bool(table.header["space"].get("precisions"))
    if precision == "mixed" and not mixed:
        raise EdgenasError("a mixed-precision search needs a mixed table (int8 and fp32 ops plus precision boundaries) of "
                           "this board; {} is a single-precision table. Profile one with: {}".format(
                               path, mixed_table_command(target, base, path)))
    if precision == target.precision and mixed:
        raise EdgenasError("{} is a mixed-precision table; give a single-precision table for precision {}".format(path, precision))
    return MixedSpace(base) if mixed else base
