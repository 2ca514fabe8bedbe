"""Host: hardware-aware search under a latency table's constraints, accuracy from the supernet."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import output_dir
from ..util.options import build, with_signature
from .common import PathLike, as_target
from .search_options import SearchOptions


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


def search(target, table: PathLike, supernet: PathLike, out: PathLike, options: Optional[SearchOptions] = None, *,
           progress: bool = True, precision: Optional[str] = None, **kwargs: Any) -> SearchResult:
    """Maximise estimated accuracy subject to the budgets (``mode='single'``) or trade it against
    latency (``'pareto'``, NSGA-II), spending ``budget`` evaluations. Re-running resumes.
    The options (``latency_ms=``, ``budget=``, ...: see ``help(edgenas.search)``) are the fields of
    ``SearchOptions`` (edgenas/tasks/search_options.py), given as keywords or as one ``options`` object.
    ``precision='mixed'`` also chooses each op's precision (int8 or fp32) from a mixed table of the same
    board; by default the table decides (a mixed table searches mixed plans)."""
    if options is not None and not isinstance(options, SearchOptions):
        raise EdgenasError("search: the fifth argument is a SearchOptions, got {!r}; give latency_ms=... and the other "
                           "options as keywords".format(options))
    o = build(SearchOptions, options, "search", **kwargs)
    latency_ms, params_m, flops_m, peak_mem_kb = o.latency_ms, o.params_m, o.flops_m, o.peak_mem_kb
    mode, estimator, data, val_size, seed = o.mode, o.estimator, o.data, o.val_size, o.seed
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
    from ..latency.drift import warn_foreign

    warn_foreign(lat_table)
    dev = resolve_device(o.device)
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
    pop, gens, evals = resolve(o.budget, o.population, o.generations)
    evo = Options(mode, pop, gens, evals, o.mutation, o.crossover, 3, seed)
    resolved = {"target": t.name, "table": str(table), "supernet": str(supernet), "budget": evals, "population": pop,
                "generations": gens, "mode": mode, "estimator": estimator, "latency_ms": latency_ms, "params_m": params_m,
                "flops_m": flops_m, "peak_mem_kb": peak_mem_kb, "seed": seed, "val_size": val_size, "data": data,
                "space": space.describe(), "supernet_meta": {k: meta[k] for k in ("dataset", "options")}}
    from ..util.lock import exclusive

    with exclusive(Path(out) / ".edgenas.lock", "search run {}".format(out)):
        res = run_search(space, pred.predict, CachedEstimator(est), Budget(latency_ms, params_m, flops_m, peak_mem_kb), evo,
                         out, t.name, resolved, quiet=not progress)
    b = res["best"]
    return SearchResult(Path(out), res["name"], b["arch"], b["latency_ms"], b["accuracy"], b["params_m"], b["macs_m"],
                        res["evaluations"], res["wall_s"], res["pareto_front"], res.get("stop_reason", ""), res)


with_signature(search, SearchOptions)  # help(edgenas.search) lists every option with its default


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
