"""Your own PyTorch model pruned to a latency budget measured on the target (``edgenas prune --torch``).

1. Export the model to ONNX and take its in-context per-layer profile on the target once: ms per torch module.
2. Prune in steps (``compress.prune_own.ChannelPruner``): each step removes the channel groups with the least
   L2 importance per predicted millisecond saved, until the predicted latency reaches the aim.
3. Export the candidate and measure it interleaved with the baseline on the target. Met: done. Not met: lower
   the aim by the measured / predicted gap and prune on. Every measured candidate is saved and logged beside
   ``out`` (``<out>.candidates.json``), so a rerun after an interruption resumes from the last one.

The fine-tune hook is ``finetune(model, step, final) -> Optional[nn.Module]``: called after every pruning step
(``final=False``) and once at the end (``final=True``) with the pruned model in train-ready form; it trains
the model in place (or returns a replacement with the same layer shapes). Without it the accuracy is unrecovered.
"""

import copy
import hashlib
import importlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..errors import EdgenasError, UserCodeError
from ..util.io import atomic_write_json
from .common import PathLike, as_target

LOG_SCHEMA = "edgenas.prune_own/1"


@dataclass
class PruneOwnResult:
    out: Optional[Path]
    log: Optional[Path]
    budget_ms: float
    baseline_ms: float            # median of the profile's plain runs and the baselines timed beside candidates
    measured_ms: float            # the shipped candidate, measured interleaved with the baseline
    measured_ratio: float         # candidate / baseline, timed in the same interleaved run
    predicted_ms: float
    params_before_m: float
    params_after_m: float
    steps: int
    candidates: List[Dict[str, Any]]
    finetuned: bool
    resumed: bool
    note: str
    seconds: float
    model: Any = field(repr=False, default=None)
    channels: Dict[str, List[int]] = field(repr=False, default_factory=dict)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return "{}: {}".format(type(e).__name__, text[0][:200]) if text else type(e).__name__


def load_callable(spec: str, flag: str) -> Callable:
    """The callable named ``module:function`` (the working directory is importable); failures name ``flag``."""
    from ..compress.prune_own import user_traceback

    if not isinstance(spec, str) or spec.count(":") != 1 or spec.startswith(":") or spec.endswith(":"):
        raise EdgenasError("{} {!r}: give pkg.module:function (e.g. mymodels:build)".format(flag, spec))
    module, name = spec.split(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            raise EdgenasError("{} {}: cannot import module '{}' (not in {} nor on PYTHONPATH); run from its folder or add "
                               "it to PYTHONPATH".format(flag, spec, module, cwd)) from None
        raise UserCodeError("{} {}: importing '{}' raised {}; fix that module (its traceback is below)".format(
            flag, spec, module, _first_line(e)), user_traceback(e, flag + " " + spec)) from None
    except Exception as e:
        raise UserCodeError("{} {}: importing '{}' raised {}; fix that module (its traceback is below)".format(
            flag, spec, module, _first_line(e)), user_traceback(e, flag + " " + spec)) from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    fn = getattr(mod, name, None)
    if not callable(fn):
        have = sorted(k for k, v in vars(mod).items() if callable(v) and not k.startswith("_"))
        raise EdgenasError("{} {}: module '{}' has no function '{}'; it has: {}".format(flag, spec, module, name,
                                                                                       ", ".join(have[:20]) or "none"))
    return fn


def load_factory_model(spec: str, weights: Optional[PathLike] = None):
    """Call the factory ``pkg.module:function`` (no arguments) and load ``weights`` (a state dict) into its model."""
    import torch
    import torch.nn as nn

    from ..compress.prune_own import user_traceback

    fn = load_callable(spec, "--torch")
    try:
        model = fn()
    except Exception as e:
        raise UserCodeError("--torch {}: the factory raised {}; fix it (its traceback is below)".format(spec, _first_line(e)),
                            user_traceback(e, "--torch " + spec)) from None
    if not isinstance(model, nn.Module):
        raise EdgenasError("--torch {}: the factory returned a {}, not a torch.nn.Module; return the model".format(
            spec, type(model).__name__))
    if weights is not None:
        p = Path(weights)
        if not p.is_file():
            raise EdgenasError("--weights {} does not exist".format(p))
        try:
            state = torch.load(str(p), map_location="cpu", weights_only=False)
        except Exception as e:
            raise EdgenasError("--weights {} is not a torch file ({})".format(p, _first_line(e))) from None
        if isinstance(state, nn.Module):
            state = state.state_dict()
        for k in ("state_dict", "model_state_dict", "model"):
            if isinstance(state, dict) and isinstance(state.get(k), dict):
                state = state[k]
        if not isinstance(state, dict):
            raise EdgenasError("--weights {} holds a {}, not a state dict".format(p, type(state).__name__))
        own = model.state_dict()
        for k in own:
            if k not in state:
                raise EdgenasError("--weights {} does not match the model: key '{}' is missing from the file".format(p, k))
            if tuple(state[k].shape) != tuple(own[k].shape):
                raise EdgenasError("--weights {} does not match the model: key '{}' has shape {} in the file, {} in the "
                                   "model".format(p, k, list(state[k].shape), list(own[k].shape)))
        extra = [k for k in state if k not in own]
        if extra:
            raise EdgenasError("--weights {} does not match the model: key '{}' is not in the model".format(p, extra[0]))
        model.load_state_dict(state)
    return model.eval()


def parse_shape(text: str) -> List[int]:
    try:
        dims = [int(d) for d in str(text).lower().split("x")]
    except ValueError:
        dims = []
    if not dims or any(d < 1 for d in dims):
        raise EdgenasError("--input-shape {!r}: give positive dims joined by x, e.g. 1x3x224x224".format(text))
    return dims


def _measure(paths: Dict[str, Path], t) -> Dict[str, float]:
    from ..backends import make_runner
    from ..runtime.timing import measure_interleaved, stats

    runners = {k: make_runner(p, t) for k, p in paths.items()}
    try:
        for r in runners.values():
            r.activate()
        samples = measure_interleaved({k: r.timed_call(r.random_feed()) for k, r in runners.items()}, t.protocol)
    finally:
        for r in runners.values():
            r.deactivate()
    return {k: stats(v)["median_ms"] for k, v in samples.items()}


def _key(model, inputs, t, budget, keep, round_to, max_ratio) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().float().sum().numpy().tobytes() if v.numel() else b"")
    h.update(json.dumps([[list(x.shape) for x in inputs], t.name, round(budget, 6), sorted(keep or []), round_to,
                         max_ratio]).encode())
    return h.hexdigest()[:16]


def _call_hook(finetune, spec: str, model, step: int, final: bool):
    from ..compress.prune_own import user_traceback

    model.train()
    try:
        ret = finetune(model, step, final)
    except Exception as e:
        raise UserCodeError("--finetune {} raised {} at step {}{}; fix the hook (its traceback is below); a rerun resumes "
                            "from the last measured candidate".format(spec, _first_line(e), step, " (final)" if final else ""),
                            user_traceback(e, "your fine-tune hook " + spec)) from None
    return (ret if ret is not None else model).eval()


def prune_own(model, example_inputs, latency_ms: float, target="cpu-x86-ort-fp32", out: Optional[PathLike] = None,
              keep: Optional[Sequence[str]] = None, finetune: Optional[Any] = None, board: Optional[str] = None,
              round_to: int = 8, max_ratio: float = 0.9, step_fraction: float = 0.1, max_candidates: int = 8,
              profile_budget_s: float = 20.0, log: Optional[Callable[[str], None]] = print) -> PruneOwnResult:
    """Prune ``model`` (any ``nn.Module``; not modified) until its latency on ``target``, measured, is at most
    ``latency_ms``. ``example_inputs``: a tensor or a tuple of tensors. ``finetune``: a callable or
    'module:function' (see the module doc). ``out``: where the pruned model (``torch.save`` of the module) and
    its candidate log go; a rerun with the same arguments resumes from that log."""
    import torch

    from ..compress.prune_own import ChannelPruner, as_inputs, export_model, keep_modules, params_m, run_checked

    t0 = time.time()
    say = log or (lambda s: None)
    if board:
        raise EdgenasError("--board {}: pruning against a remote board's measurements is not yet supported; run prune "
                           "--torch on a host whose target runs here (omit --board)".format(board))
    t = as_target(target)
    if t.backend != "onnxruntime":
        raise EdgenasError("target '{}' runs {}; prune --torch measures on ONNX Runtime targets here (e.g. "
                           "cpu-x86-ort-fp32)".format(t.name, t.backend))
    if not (isinstance(latency_ms, (int, float)) and latency_ms > 0):
        raise EdgenasError("--latency-ms must be a positive number of milliseconds, got {!r}".format(latency_ms))
    if not isinstance(model, torch.nn.Module):
        raise EdgenasError("model must be a torch.nn.Module, not {}".format(type(model).__name__))
    hook_spec = finetune if isinstance(finetune, str) else getattr(finetune, "__name__", "hook")
    if isinstance(finetune, str):
        finetune = load_callable(finetune, "--finetune")
    inputs = as_inputs(example_inputs)
    model = copy.deepcopy(model).eval()
    keep_names = keep_modules(model, keep)
    sig = run_checked(model, inputs)
    out_names = [n for n, _ in sig]
    params0 = params_m(model)
    key = _key(model, inputs, t, float(latency_ms), keep, round_to, max_ratio)
    tmp = tempfile.TemporaryDirectory(prefix="edgenas-prune-")
    out_p = Path(out) if out is not None else None
    work = Path(str(out_p) + ".work") if out_p else Path(tmp.name)
    log_p = Path(str(out_p) + ".candidates.json") if out_p else None
    work.mkdir(parents=True, exist_ok=True)
    try:
        base_onnx = work / "baseline.onnx"
        state: Dict[str, Any] = {}
        if log_p and log_p.is_file():
            try:
                state = json.loads(log_p.read_text())
            except ValueError:
                state = {}
            if state.get("key") != key or not base_onnx.is_file():
                state = {}
        resumed = bool(state)
        if not resumed:
            export_model(model, inputs, base_onnx, out_names)
            from ..latency.model_profile import profile_models

            feeds = {("input" if len(inputs) == 1 else "input{}".format(i)): x.numpy() for i, x in enumerate(inputs)}
            say("profiling  {} per layer on {} ...".format("baseline", t.name))
            prof = profile_models({"base": str(base_onnx)}, t, feeds, budget_s=profile_budget_s)["base"]
            module_ms: Dict[str, float] = {}
            for row in prof["rows"]:
                if row.get("module"):
                    module_ms[row["module"]] = module_ms.get(row["module"], 0.0) + row["median_ms"]
            e2e = prof["e2e"]["median_ms"]
            total = sum(module_ms.values())
            if total > e2e:
                module_ms = {k: v * e2e / total for k, v in module_ms.items()}
            state = {"schema": LOG_SCHEMA, "key": key, "target": t.name, "budget_ms": float(latency_ms), "baseline_ms": e2e,
                     "module_ms": module_ms, "fixed_ms": max(0.0, e2e - sum(module_ms.values())),
                     "coverage": prof.get("module_coverage"), "candidates": []}
        base_ms = state["baseline_ms"]
        if latency_ms >= base_ms:
            raise EdgenasError("nothing to do: the model already runs in {:.4f} ms (measured) on {}, within the {:.4f} ms "
                               "budget; lower --latency-ms to prune".format(base_ms, t.name, latency_ms))
        pruner = ChannelPruner(model, inputs, state["module_ms"], state["fixed_ms"], keep_names, round_to, max_ratio)
        if resumed and state["candidates"]:
            last = state["candidates"][-1]
            model = torch.load(str(work / last["file"]), map_location="cpu", weights_only=False).eval()
            say("resumed    from {} measured candidate(s) in {}".format(len(state["candidates"]), log_p))
            pruner.rebind(model, state["floor"])
        aim = state.get("aim", float(latency_ms))
        steps = state.get("steps", 0)
        best: Optional[Dict[str, Any]] = None
        done = bool(state["candidates"]) and state["candidates"][-1]["met"]
        while not done:
            if len(state["candidates"]) >= max_candidates:
                b = min(state["candidates"], key=lambda c: c["measured_ms"])
                raise EdgenasError("the budget {:.4f} ms was not met after {} measured candidates (best measured {:.4f} ms); "
                                   "raise --latency-ms, or rerun to continue from them".format(
                                       latency_ms, len(state["candidates"]), b["normalized_ms"]))
            exhausted = False
            while pruner.predicted_ms() > aim:
                pred = pruner.predicted_ms()
                removed = pruner.step(min(step_fraction * base_ms, pred - aim) * 1.0001)
                if removed <= 0:
                    exhausted = True
                    break
                steps += 1
                if finetune is not None:
                    model = _call_hook(finetune, hook_spec, model, steps, False)
                    pruner.rebind(model, pruner.floor)
            cand = work / "candidate{}.onnx".format(len(state["candidates"]))
            export_model(model, inputs, cand, out_names)
            ms = _measure({"base": base_onnx, "cand": cand}, t)
            ratio = ms["cand"] / ms["base"]
            # the candidate's ms = its ratio to the baseline timed alongside x the baseline's median over this run's
            # measurements: a shared CPU's mood moves absolute ms 7-18% between runs, an interleaved ratio far less
            base_ms = float(np.median([state["baseline_ms"]] + [c["baseline_measured_ms"] for c in state["candidates"]]
                                      + [ms["base"]]))
            norm = ratio * base_ms
            pt = "candidate{}.pt".format(len(state["candidates"]))
            torch.save(model, str(work / pt))
            c = {"step": steps, "predicted_ms": round(pruner.predicted_ms(), 5), "measured_ms": round(ms["cand"], 5),
                 "baseline_measured_ms": round(ms["base"], 5), "ratio": round(ratio, 4), "baseline_ref_ms": round(base_ms, 5), "normalized_ms": round(norm, 5),
                 "params_m": round(params_m(model), 4), "met": norm <= latency_ms, "file": pt}
            state["candidates"].append(c)
            say("candidate  {}: step {}, predicted {:.4f} ms, measured {:.4f} ms ({:.2f}x the baseline timed alongside), "
                "{}".format(len(state["candidates"]), steps, c["predicted_ms"], c["measured_ms"], ratio,
                            "meets the budget" if c["met"] else "over the budget"))
            if not c["met"] and exhausted:
                b = min(state["candidates"], key=lambda x: x["normalized_ms"])
                raise EdgenasError("the budget {:.4f} ms is below what pruning can reach: at the maximum ratio {:.0%} per "
                                   "layer the best measured is {:.4f} ms; raise --latency-ms or --max-ratio".format(
                                       latency_ms, max_ratio, b["normalized_ms"]))
            if not c["met"]:  # aim lower by the measured / predicted gap, and below this candidate: prune on
                aim = min(aim * min(latency_ms / norm, 0.995), pruner.predicted_ms() * 0.99)
            state.update(aim=aim, steps=steps, floor=pruner.floor)
            if log_p:
                atomic_write_json(log_p, state)
            done = c["met"]
        best = state["candidates"][-1]
        finetuned = finetune is not None
        if finetuned:
            model = _call_hook(finetune, hook_spec, model, steps, True)
        if out_p and log_p:
            tmp_out = Path(str(out_p) + ".tmp")
            torch.save(model, str(tmp_out))
            os.replace(str(tmp_out), str(out_p))
            atomic_write_json(log_p, dict(state, shipped=best))
        note = ("fine-tuned with {}".format(hook_spec) if finetuned else
                "accuracy is unrecovered: no --finetune hook was given; fine-tune the pruned model before deploying")
        ch = {n: [c0, c1] for (n, c0), c1 in zip(pruner.channels0.items(), pruner.channels().values())}
        return PruneOwnResult(out_p, log_p, float(latency_ms), best["baseline_ref_ms"], best["measured_ms"], best["ratio"],
                              best["predicted_ms"], params0, params_m(model), steps, list(state["candidates"]), finetuned,
                              resumed, note, round(time.time() - t0, 1), model, ch)
    finally:
        tmp.cleanup()


def prune_torch(factory: str, input_shape, latency_ms: float, out: PathLike, target="cpu-x86-ort-fp32",
                weights: Optional[PathLike] = None, seed: int = 0, **kw) -> PruneOwnResult:
    """``edgenas prune --torch``: build the model from ``factory`` ('pkg.module:function'), load ``weights``, and
    ``prune_own`` it on a seeded random example input of ``input_shape`` ('1x3x224x224' or a list)."""
    import torch

    shape = parse_shape(input_shape) if isinstance(input_shape, str) else [int(d) for d in input_shape]
    torch.manual_seed(int(seed))  # a factory's random init is the same each run, so a rerun resumes from the log
    model = load_factory_model(factory, weights)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(int(seed)))
    return prune_own(model, x, latency_ms, target=target, out=out, **kw)
