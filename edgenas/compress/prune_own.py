"""Structured channel pruning of *any* torch model (host side: torch + torch-pruning), steered by measured
per-layer milliseconds instead of a latency table.

Torch-Pruning's DependencyGraph finds the channel groups that must be pruned together (a conv's output
channels, the BatchNorm after it, every consumer's input channels, residual partners). Each channel of a
group is scored by its L2 magnitude (normalised within the group) divided by the milliseconds its removal
is predicted to save: the in-context per-layer ms of every conv / linear layer in the group, scaled by the
layer's current MAC ratio, over its current channel count. A step removes the lowest-scored channels worth
a given number of milliseconds, rounded per group to ``round_to``, at most a quarter of a group per step (so the
cut spreads over the layers instead of emptying the cheapest one). Layers that feed a model output (through
reshapes, concatenations, BatchNorm, depthwise convs, activations) are never pruned, so output shapes and
names stay as they were; ``keep`` protects more (detection heads).
"""

import re
import traceback
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn

from ..errors import EdgenasError

Inputs = Tuple[torch.Tensor, ...]


def as_inputs(example_inputs: Any) -> Inputs:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)) and example_inputs and all(isinstance(t, torch.Tensor) for t in example_inputs):
        return tuple(example_inputs)
    raise EdgenasError("example inputs must be a tensor or a tuple of tensors, not {}".format(type(example_inputs).__name__))


def output_signature(out: Any) -> List[Tuple[str, Tuple[int, ...]]]:
    """[(name, shape)] of a forward's result: 'output' for one tensor, 'output<i>' for a tuple, keys of a dict."""
    if isinstance(out, torch.Tensor):
        return [("output", tuple(out.shape))]
    if isinstance(out, dict):
        items = list(out.items())
    elif isinstance(out, (tuple, list)):
        items = [("output{}".format(i), v) for i, v in enumerate(out)]
    else:
        raise EdgenasError("the model returns a {}; return a tensor, a tuple or a dict of tensors".format(type(out).__name__))
    sig = []
    for name, v in items:
        if not isinstance(v, torch.Tensor):
            raise EdgenasError("model output '{}' is a {}, not a tensor; return tensors only".format(name, type(v).__name__))
        sig.append((str(name), tuple(v.shape)))
    return sig


def run_checked(model: nn.Module, inputs: Inputs, what: str = "the model") -> List[Tuple[str, Tuple[int, ...]]]:
    """Run ``model`` once; a failure names the innermost layer it happened in. Returns the output signature."""
    stack: List[str] = []
    hooks = []
    for name, m in model.named_modules():
        if name:
            hooks.append(m.register_forward_pre_hook(lambda mod, inp, n=name: stack.append(n)))  # type: ignore[func-returns-value]
            hooks.append(m.register_forward_hook(lambda mod, inp, out: (stack.pop(), None)[1]))
    try:
        with torch.no_grad():
            out = model(*inputs)
    except Exception as e:
        text = (str(e).strip().splitlines() or [""])[0][:200]
        raise EdgenasError("{} fails on the example input (shape{} {}) at layer '{}': {}: {}; fix the input shape or the "
                           "model".format(what, "s" if len(inputs) > 1 else "", "x".join("x".join(map(str, t.shape)) for t in inputs)
                                          if len(inputs) == 1 else [list(t.shape) for t in inputs],
                                          stack[-1] if stack else "(model forward)", type(e).__name__, text)) from None
    finally:
        for h in hooks:
            h.remove()
    return output_signature(out)


def keep_modules(model: nn.Module, patterns: Optional[Sequence[str]]) -> List[str]:
    """Names of the modules (and their submodules) that a ``--keep`` regex matches; each regex must match one."""
    names = [n for n, _ in model.named_modules() if n]
    kept: List[str] = []
    for pat in patterns or []:
        try:
            rx = re.compile(pat)
        except re.error as e:
            raise EdgenasError("--keep {!r} is not a valid regular expression ({}); e.g. --keep 'head'".format(pat, e))
        hit = [n for n in names if rx.search(n)]
        if not hit:
            tops = sorted({n.split(".")[0] for n in names})
            raise EdgenasError("--keep {!r} matches no module of the model; its top-level modules: {}".format(
                pat, ", ".join(tops[:20]) + (" ..." if len(tops) > 20 else "")))
        kept += [n for n in names if any(n == h or n.startswith(h + ".") for h in hit)]
    return sorted(set(kept))


def _is_conv(m: Any) -> bool:
    return isinstance(m, nn.modules.conv._ConvNd)


def _is_dw(m: Any) -> bool:
    return _is_conv(m) and m.groups > 1 and m.groups == m.in_channels


def _cost(m: Any) -> float:
    """MACs per output position (convs) or per row (linear): what a layer's time scales with when pruned."""
    if _is_conv(m):
        return float(m.out_channels) * (1.0 if _is_dw(m) else m.in_channels / m.groups)
    return float(m.in_features) * m.out_features


class ChannelPruner:
    """Iterative, latency-weighted pruning of ``model`` in place. ``module_ms``: measured ms of each torch module
    (by name) at the start; ``fixed_ms``: the rest of the measured latency (not scaled by pruning)."""

    def __init__(self, model: nn.Module, example_inputs: Any, module_ms: Dict[str, float], fixed_ms: float,
                 keep: Sequence[str] = (), round_to: int = 8, max_ratio: float = 0.9, slice_ratio: float = 0.25) -> None:
        if not 0.0 < max_ratio < 1.0:
            raise EdgenasError("max_ratio must be in (0, 1), got {}".format(max_ratio))
        self.inputs = as_inputs(example_inputs)
        self.round_to, self.max_ratio, self.slice = max(1, int(round_to)), float(max_ratio), float(slice_ratio)
        self.kept = set(keep)
        self.floor: Dict[str, int] = {}
        self._bind(model)
        self.ms0 = {n: float(module_ms.get(n, 0.0)) for n in self.layers}
        self.fixed_ms = float(fixed_ms) + sum(v for k, v in module_ms.items() if k not in self.layers)
        self.cost0 = {n: _cost(m) for n, m in self.layers.items()}
        self.channels0 = self.channels()
        self.signature = run_checked(model, self.inputs)

    def rebind(self, model: nn.Module, floor: Dict[str, int]) -> None:
        """Continue on ``model`` (a resumed candidate, or what a fine-tune hook returned): same layer names."""
        self.floor = dict(floor)
        if model is not self.model:
            self._bind(model)

    def _bind(self, model: nn.Module) -> None:
        import torch_pruning as tp

        self.model = model
        self.names = {id(m): n for n, m in model.named_modules()}
        self.layers = {n: m for n, m in model.named_modules() if _is_conv(m) or isinstance(m, nn.Linear)}
        try:
            self.dg = tp.DependencyGraph().build_dependency(model, example_inputs=self.inputs, verbose=False)
        except Exception as e:
            raise EdgenasError("torch-pruning cannot trace this model ({}: {}); simplify its forward or prune a traceable "
                               "sub-module".format(type(e).__name__, (str(e).splitlines() or [""])[0][:200])) from None
        self.protected = set(self.output_layers()) | {n for n in self.kept if n in self.layers}
        # grouped (not depthwise) convs: torch-pruning needs channel groups there; leave them whole
        self.protected |= {n for n, m in self.layers.items() if _is_conv(m) and m.groups > 1 and not _is_dw(m)}

    def output_layers(self) -> List[str]:
        """Conv / linear layers whose output channels reach a model output without another such layer between."""
        nodes = self.dg.module2node
        todo = [n for n in nodes.values() if not n.outputs]
        seen, hit = set(), []
        while todo:
            node = todo.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            m = node.module
            if (_is_conv(m) and not _is_dw(m)) or isinstance(m, nn.Linear):
                hit.append(self.names.get(id(m), node.name))
                continue
            todo.extend(node.inputs)
        return hit

    def predicted_ms(self) -> float:
        return self.fixed_ms + sum(self.ms0[n] * _cost(m) / max(self.cost0[n], 1.0) for n, m in self.layers.items())

    def _groups(self):
        """[(root module, handler, channel order (least important first), ms saved per channel, most prunable)]."""
        import torch_pruning as tp

        imp = tp.importance.GroupMagnitudeImportance(p=2)
        failed: List[Tuple[str, str]] = []
        ignored = [self.layers[n] for n in self.protected]
        out = []
        for g in self.dg.get_all_groups(ignored_layers=ignored, root_module_types=(nn.modules.conv._ConvNd, nn.Linear)):
            root = g[0].dep.target.module
            handler = g[0].dep.handler
            rname = self.names.get(id(root), "?")
            mods: Dict[int, Tuple[Any, Any, str]] = {}
            for item in g:
                m: Any = item.dep.target.module
                name = self.names.get(id(m))
                if name in self.layers and id(m) not in mods:
                    mods[id(m)] = (name, m, getattr(item.dep.handler, "__name__", ""))
            if any(n in self.kept for n, _, _ in mods.values()):
                continue  # a kept layer's channels move with this group: leave it whole
            dim = len(g[0].idxs)
            ms_per = 0.0
            for name, m, how in mods.values():
                cur = self.ms0[name] * _cost(m) / max(self.cost0[name], 1.0)
                if isinstance(m, nn.Linear):
                    d = m.in_features if "in" in how else m.out_features
                else:
                    d = m.out_channels if ("out" in how or _is_dw(m)) else m.in_channels
                ms_per += cur / max(d, 1)
            try:
                scores = imp(g)
            except Exception as e:  # torch-pruning 1.6 mis-indexes some split / concat graphs (YOLO-style C2f)
                failed.append((rname, "{}: {}".format(type(e).__name__, (str(e).splitlines() or [""])[0][:120])))
                continue
            if scores is None:
                continue
            scores = scores.detach().cpu().double().numpy()
            scores = scores / max(float(np.mean(scores)), 1e-12)
            r = self.round_to
            floor = self.floor.setdefault(rname, max(r, int(np.ceil(dim * (1.0 - self.max_ratio) / r)) * r))
            room = ((dim - floor) // r) * r  # whole round_to slices only
            room = min(room, max(r, int(dim * self.slice / r) * r))  # a slice per step: spread over the groups
            if room < r or ms_per <= 0:
                continue
            order = np.argsort(scores, kind="stable")
            out.append((root, handler, order, ms_per, room, scores[order] / ms_per, dim))
        if failed:
            names = [n for n, _ in failed]
            raise EdgenasError("torch-pruning cannot follow the channels of {} layer(s): {} (first: {}); add --keep "
                               "'^({})$' to leave them whole".format(len(names), ", ".join(names[:4]) + (" ..." if len(
                                   names) > 4 else ""), failed[0][1], "|".join(re.escape(n) for n in names)))
        return out

    def step(self, ms_to_remove: float) -> float:
        """Remove the lowest-scored channels worth about ``ms_to_remove`` predicted ms. Returns the predicted ms
        removed (0.0: nothing left to prune within ``max_ratio``)."""
        before = self.predicted_ms()
        groups = self._groups()
        if not groups:
            return 0.0
        cand = sorted((s, gi, j) for gi, g in enumerate(groups) for j, s in enumerate(g[5][: g[4]]))
        take = [0] * len(groups)
        acc = 0.0
        for _, gi, j in cand:
            if acc >= ms_to_remove:
                break
            if j == take[gi]:  # channels leave a group in order
                take[gi] += 1
                acc += groups[gi][3]
        chosen = []
        for (root, handler, order, ms_per, room, _, dim), k in zip(groups, take):
            k = min(int(round(k / self.round_to)) * self.round_to, room)
            if k > 0:
                chosen.append((root, handler, order, k))
        if not chosen:  # every selection rounded to nothing: take one round_to slice of the best group
            best = min(range(len(groups)), key=lambda i: groups[i][5][0])
            chosen = [(groups[best][0], groups[best][1], groups[best][2], min(self.round_to, groups[best][4]))]
        for root, handler, order, k in chosen:
            self._prune(root, handler, sorted(int(i) for i in order[:k]))
        return before - self.predicted_ms()

    def _prune(self, root: nn.Module, handler, idxs: List[int]) -> None:
        """Prune one group, then check the model still runs with unchanged outputs; a failure names the group's
        layer and the ``--keep`` that leaves it whole."""
        name = self.names.get(id(root), "?")
        hint = "add --keep '^{}$' to leave that layer's channels whole".format(re.escape(name))
        try:
            group = self.dg.get_pruning_group(root, handler, idxs=idxs)
            if not self.dg.check_pruning_group(group):
                return
            group.prune()
        except Exception as e:  # torch-pruning raises assorted errors on graphs it cannot trace
            raise EdgenasError("torch-pruning cannot prune layer '{}' ({}: {}); {}".format(
                name, type(e).__name__, (str(e).splitlines() or [""])[0][:160], hint)) from None
        try:
            sig = run_checked(self.model, self.inputs, "the pruned model")
        except EdgenasError as e:
            where = re.search(r"at layer '([^']+)': (.*?); fix the input", str(e))
            raise EdgenasError("torch-pruning cannot trace what layer '{}' feeds: pruning it breaks the model at layer "
                               "'{}' ({}); {}".format(name, where.group(1) if where else "?", where.group(2)[:160] if where
                                                      else str(e)[:160], hint)) from None
        if sig != self.signature:
            bad = next((a, b) for a, b in zip(sig, self.signature) if a != b)
            raise EdgenasError("pruning layer '{}' changed output {} {} to {}; {}".format(name, bad[1][0], list(bad[1][1]),
                                                                                        list(bad[0][1]), hint))

    def channels(self) -> Dict[str, int]:
        return {n: (m.out_channels if _is_conv(m) else m.out_features) for n, m in self.layers.items()}


def params_m(model: nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def export_model(model: nn.Module, example_inputs: Any, path, output_names: Sequence[str], opset: int = 17):
    """TorchScript ONNX export (node names carry module paths: the per-layer profile maps them back)."""
    import io
    import warnings

    import onnx

    from ..util.io import atomic_write_bytes

    inputs = as_inputs(example_inputs)
    names = ["input"] if len(inputs) == 1 else ["input{}".format(i) for i in range(len(inputs))]
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model.eval(), inputs, buf, dynamo=False,  # type: ignore[arg-type]
                              opset_version=opset, input_names=names,
                              output_names=list(output_names), do_constant_folding=True)
        except Exception as e:
            raise EdgenasError("ONNX export of the model failed ({}: {}); the model must export with torch.onnx".format(
                type(e).__name__, (str(e).splitlines() or [""])[0][:200])) from None
    onnx.checker.check_model(onnx.load_from_string(buf.getvalue()))
    atomic_write_bytes(path, buf.getvalue())
    return names


def user_traceback(exc: BaseException, label: str) -> str:
    """``exc``'s traceback without edgenas's own frames, labelled as the user's code."""
    import os

    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not os.path.abspath(f.filename).startswith(pkg)
              and not f.filename.startswith("<frozen")]
    body = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
    return ("--- traceback from {} (your code, not edgenas) ---\nTraceback (most recent call last):\n{}"
            "--- end of your code's traceback ---".format(label, body))
