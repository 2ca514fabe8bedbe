"""Latency-aware structured channel pruning on Torch-Pruning's DependencyGraph / BasePruner.

How much each layer is pruned follows the latency table: a block's ratio grows with its share of the
table latency (slow blocks give up more channels), scaled by one global factor found by bisection so
that the *predicted* latency meets the target. Pruned channel counts are not in the table, so each
op's latency is interpolated by its MAC ratio and flagged as such; where the target's runtime runs
here, the factor is then refined on *measured* end-to-end latency.
"""

import copy
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn

from ..errors import EdgenasError

IMPORTANCES = ("magnitude", "taylor", "lamp", "random")


def _importance(name: str):
    import torch_pruning as tp

    if name not in IMPORTANCES:
        raise EdgenasError("unknown importance '{}'; choose one of {}".format(name, ", ".join(IMPORTANCES)))
    return {"magnitude": lambda: tp.importance.MagnitudeImportance(p=2), "taylor": tp.importance.TaylorImportance,
            "lamp": lambda: tp.importance.LAMPImportance(p=2), "random": tp.importance.RandomImportance}[name]()


def locate_failure(model: nn.Module, x: torch.Tensor) -> Optional[str]:
    """Run ``model`` and return '<layer>: <error>' for the layer where it breaks, or None."""
    stack: List[str] = []
    hooks = []
    for name, m in model.named_modules():
        if name:
            hooks.append(m.register_forward_pre_hook(lambda mod, inp, n=name: stack.append(n) and None))
            hooks.append(m.register_forward_hook(lambda mod, inp, out: stack.pop() and None))
    try:
        with torch.no_grad():
            model(x)
        return None
    except Exception as e:  # the failing layer is what we report
        return "{}: {}".format(stack[-1] if stack else "<model>", str(e).splitlines()[0][:200])
    finally:
        for h in hooks:
            h.remove()


def macs_per_block(model: nn.Module, x: torch.Tensor) -> List[float]:
    """MACs of each top-level child (conv and linear layers), by forward hooks."""
    totals: List[float] = []
    hooks = []
    for i, child in enumerate(model.children()):
        totals.append(0.0)

        def hook(mod, inp, out, i=i):
            if isinstance(mod, nn.Conv2d):
                totals[i] += out.numel() / out.shape[0] * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            elif isinstance(mod, nn.Linear):
                totals[i] += mod.in_features * mod.out_features
        for m in child.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return totals


def prune_once(model: nn.Module, x: torch.Tensor, ratios: List[float], importance: str, round_to: int,
               calib: Optional[Callable[[nn.Module], None]] = None) -> nn.Module:
    import torch_pruning as tp

    m = copy.deepcopy(model).eval()
    ignored = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    if isinstance(ratios, float):  # any user module: one global ratio
        ratio_dict, global_ratio = None, ratios
    else:
        ratio_dict = {b: float(r) for b, r in zip(m.children(), ratios) if r > 0}
        global_ratio = 0.0
    if not ratio_dict and global_ratio <= 0:
        return m
    imp = _importance(importance)
    try:
        pruner = tp.pruner.BasePruner(m, x, importance=imp, pruning_ratio=global_ratio, pruning_ratio_dict=ratio_dict,
                                      ignored_layers=ignored, round_to=round_to)
        if importance == "taylor":
            if calib is None:
                raise EdgenasError("--importance taylor needs data for gradients")
            calib(m)
        pruner.step()
    except EdgenasError:
        raise
    except Exception as e:  # torch-pruning raises assorted errors on graphs it cannot trace
        where = locate_failure(m, x)
        raise EdgenasError("torch-pruning cannot prune this model{}: {}; add the layer to the ignored layers or simplify it".format(
            " (at layer {})".format(where.split(":")[0]) if where else "", str(e).splitlines()[0][:200]))
    broken = locate_failure(m, x)
    if broken:
        raise EdgenasError("the pruned model fails at layer {}; keep that layer unpruned".format(broken))
    return m


class LatencyModel:
    """Predicted latency of a (pruned) sequential model: table latency of each op scaled by its MAC ratio."""

    def __init__(self, predictor, arch: Dict[str, Any], base_model: nn.Module, x: torch.Tensor) -> None:
        table, space = predictor.table, predictor.space
        keys = space.ops(arch)
        ovh = table.calibration["overhead_ms"]
        self.lat = np.array([table.entries[k]["median_ms"] - ovh for k in keys])
        self.macs0 = np.array(macs_per_block(base_model, x))
        if len(self.macs0) != len(self.lat):
            raise EdgenasError("model has {} blocks but its arch has {} ops; prune a model built by edgenas".format(
                len(self.macs0), len(self.lat)))
        self.cal = table.calibration

    def __call__(self, model: nn.Module, x: torch.Tensor) -> float:
        scale = np.array(macs_per_block(model, x)) / np.maximum(self.macs0, 1)
        return float(self.cal["scale"] * (self.lat * scale).sum() + self.cal["offset_ms"])


def block_ratios(lat: np.ndarray, alpha: float, max_ratio: float = 0.9) -> List[float]:
    share = lat / lat.max()
    r = np.clip(alpha * share, 0.0, max_ratio)
    r[0] = r[-1] = 0.0  # stem and classifier head keep their channels
    return r.tolist()


def prune_to_latency(model: nn.Module, arch, predictor, target_ms: float, x: torch.Tensor, importance: str = "magnitude",
                     round_to: int = 8, measure: Optional[Callable[[nn.Module], float]] = None,
                     calib: Optional[Callable[[nn.Module], None]] = None, max_ratio: float = 0.9) -> Dict[str, Any]:
    """Bisect the global factor on predicted latency, then (where ``measure`` runs the target here) on
    measured latency, keeping the candidate whose measured latency is closest to ``target_ms``.
    Any user ``nn.Module`` works without a table (``predictor=None``): one global ratio, bisected on
    measured latency alone."""
    if predictor is None or arch is None:
        return _prune_measured_only(model, target_ms, x, importance, round_to, measure, calib, max_ratio)
    lm = LatencyModel(predictor, arch, model, x)
    base_pred = lm(model, x)
    base_meas = measure(model) if measure else None
    out = {"base_predicted_ms": base_pred, "base_measured_ms": base_meas, "latency_source": "interpolated by MACs",
           "iterations": []}
    if target_ms >= (base_meas if base_meas is not None else base_pred):
        return dict(out, model=model, alpha=0.0, predicted_ms=base_pred, measured_ms=base_meas)

    def attempt(alpha: float):
        m = prune_once(model, x, block_ratios(lm.lat, alpha, max_ratio), importance, round_to, calib)
        return m, lm(m, x)

    m, p = attempt(max_ratio)
    if p > target_ms and (measure is None or measure(m) > target_ms):
        raise EdgenasError("pruning cannot reach {:.4f} ms: pruning {:.0%} of the slowest blocks' channels gives {:.4f} ms "
                           "(predicted); raise the target or search a smaller architecture".format(target_ms, max_ratio, p))
    lo, hi, best = 0.0, max_ratio, (m, p, max_ratio)
    for _ in range(7):
        mid = (lo + hi) / 2
        m, p = attempt(mid)
        out["iterations"].append({"alpha": round(mid, 4), "predicted_ms": p})
        if p <= target_ms:
            hi, best = mid, (m, p, mid)
        else:
            lo = mid
    model_out, pred_out, alpha = best
    measured = None
    if measure is not None:
        measured = measure(model_out)
        lo, hi = (alpha, max_ratio) if measured > target_ms else (0.0, alpha)
        for _ in range(5):
            if abs(measured / target_ms - 1) <= 0.03:
                break
            mid = (lo + hi) / 2
            m, p = attempt(mid)
            mm = measure(m)
            out["iterations"].append({"alpha": round(mid, 4), "predicted_ms": p, "measured_ms": mm})
            if abs(mm / target_ms - 1) < abs(measured / target_ms - 1):
                model_out, pred_out, measured, alpha = m, p, mm, mid
            lo, hi = (mid, hi) if mm > target_ms else (lo, mid)
    return dict(out, model=model_out, alpha=alpha, predicted_ms=pred_out, measured_ms=measured)


def _prune_measured_only(model, target_ms, x, importance, round_to, measure, calib, max_ratio) -> Dict[str, Any]:
    if measure is None:
        raise EdgenasError("a model without an edgenas arch has no table prediction; pruning it needs the target's "
                           "runtime here to measure latency")
    base = measure(model)
    out = {"base_predicted_ms": None, "base_measured_ms": base, "latency_source": "measured", "iterations": [],
           "predicted_ms": None}
    if target_ms >= base:
        return dict(out, model=model, alpha=0.0, measured_ms=base)
    m = prune_once(model, x, float(max_ratio), importance, round_to, calib)
    mm = measure(m)
    if mm > target_ms:
        raise EdgenasError("pruning cannot reach {:.4f} ms: pruning {:.0%} of the channels gives {:.4f} ms (measured); "
                           "raise the target".format(target_ms, max_ratio, mm))
    lo, hi, best = 0.0, max_ratio, (m, mm, max_ratio)
    for _ in range(6):
        mid = (lo + hi) / 2
        m = prune_once(model, x, float(mid), importance, round_to, calib)
        mm = measure(m)
        out["iterations"].append({"alpha": round(mid, 4), "measured_ms": mm})
        if abs(mm / target_ms - 1) < abs(best[1] / target_ms - 1):
            best = (m, mm, mid)
        lo, hi = (mid, hi) if mm > target_ms else (lo, mid)
    return dict(out, model=best[0], alpha=best[2], measured_ms=best[1])


def rebuild_like(model: nn.Module, state: Dict[str, torch.Tensor]) -> nn.Module:
    """Re-shape ``model``'s conv / BN / linear layers to the (pruned) shapes in ``state``, then load it."""
    for name, mod in list(model.named_modules()):
        w = state.get(name + ".weight") if name else None
        if w is None:
            continue
        if isinstance(mod, nn.Conv2d) and tuple(w.shape) != tuple(mod.weight.shape):
            dw = mod.groups == mod.in_channels and mod.groups > 1
            cin = w.shape[0] if dw else w.shape[1] * mod.groups
            new = nn.Conv2d(cin, w.shape[0], mod.kernel_size, mod.stride, mod.padding, groups=w.shape[0] if dw else mod.groups,
                            bias=mod.bias is not None)
        elif isinstance(mod, nn.BatchNorm2d) and w.shape[0] != mod.num_features:
            new = nn.BatchNorm2d(w.shape[0])
        elif isinstance(mod, nn.Linear) and tuple(w.shape) != tuple(mod.weight.shape):
            new = nn.Linear(w.shape[1], w.shape[0], bias=mod.bias is not None)
        else:
            continue
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, name.rsplit(".", 1)[-1], new)
    model.load_state_dict(state)
    return model.eval()


def measure_latency_fn(target, input_shape) -> Callable[[nn.Module], float]:
    """Measured end-to-end latency of a torch model exported to ONNX, on ``target`` here."""
    from ..modelio.onnx_export import export_onnx
    from ..backends import make_runner
    from ..runtime.timing import measure_interleaved, stats

    def measure(model: nn.Module) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model, input_shape, Path(tmp) / "m.onnx")
            r = make_runner(path, target)
            r.activate()
            samples = measure_interleaved({"m": r.timed_call(r.random_feed())}, target.protocol)
            r.deactivate()
        return stats(samples["m"])["median_ms"]

    return measure
