"""Latency of one model at the shapes a user names (min / opt / max of each optimization profile), measured
in one interleaved run so the ratios between shapes hold whatever the machine's mood. Board side (numpy +
onnxruntime, no torch, Python 3.8): ``edgenas profile model MODEL.onnx --shapes x:MIN,OPT,MAX``.

Latency of a model with dynamic dims depends on the shape it runs at; a budget applies at a named shape
(the opt shape by default), and every report says which.
"""

import time
from dataclasses import replace
from typing import Any, Dict, List, Sequence

import numpy as np

from ..errors import EdgenasError
from ..runtime import shapes as S
from ..runtime.timing import measure_interleaved, stats


def random_feed(inputs, shapes: Dict[str, Sequence[int]], seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded random inputs at ``shapes`` for an ONNX Runtime session's inputs (normal floats, 0/1 integers)."""
    from ..backends.onnxruntime.runner import _DTYPES

    rng = np.random.default_rng(seed)
    feed = {}
    for i in inputs:
        dtype = np.dtype(_DTYPES.get(i.type, np.float32))
        shape = tuple(int(d) for d in shapes[i.name])
        feed[i.name] = rng.standard_normal(shape).astype(dtype) if dtype.kind == "f" else \
            rng.integers(0, 2, size=shape).astype(dtype)
    return feed


def shape_points(profiles, which: Sequence[str] = S.WHICH) -> List[Dict[str, Any]]:
    """[{"label": "opt", "profile": 0, "shapes": {input: shape}}] for each profile and each of ``which``; the same
    shape is listed once."""
    out: List[Dict[str, Any]] = []
    seen = set()
    for p, prof in enumerate(profiles):
        for w in which:
            if w not in S.WHICH:
                raise EdgenasError("shape '{}': choose from min, opt, max".format(w))
            shapes = S.at(prof, w)
            key = tuple(sorted((n, tuple(s)) for n, s in shapes.items()))
            if key in seen:
                continue
            seen.add(key)
            out.append({"label": w if len(profiles) == 1 else "p{}.{}".format(p, w), "profile": p, "shapes": shapes})
    return out


def shape_latency(model, target, shapes, which: Sequence[str] = S.WHICH, budget_s: float = 30.0, seed: int = 0,
                  budget_at: str = "opt") -> Dict[str, Any]:
    """Time ``model`` on ONNX Runtime ``target`` at min / opt / max (``which``) of every profile in ``shapes``
    (runtime.shapes syntax), interleaved: each round visits every shape in a fresh order. Returns
    {"rows": [{label, shapes, median_ms, p90_ms, noise_pct, ratio_to_opt}], "budget_at": ...}; the target's
    latency budget is stated at the ``budget_at`` shape."""
    import onnxruntime as ort

    from ..latency.model_profile import open_session

    profiles = S.resolve(shapes, model)
    if not profiles:
        raise EdgenasError("give the shapes to time: --shapes NAME:MIN,OPT,MAX (see edgenas check --help)")
    problems = S.infer_problems(model, profiles)
    if problems:
        raise EdgenasError(problems[0])
    points = shape_points(profiles, which)
    ort.set_default_logger_severity(3)
    sess = open_session(model, target)
    names = [o.name for o in sess.get_outputs()]
    calls = {}
    for pt in points:
        feed = random_feed(sess.get_inputs(), pt["shapes"], seed)
        try:
            sess.run(names, feed)
        except Exception as e:  # a size inside the range the model still rejects (shape inference saw only the ends)
            raise EdgenasError("ONNX Runtime cannot run {} at {} {}: {}".format(
                model, pt["label"], ", ".join("{}:{}".format(n, S.show(s)) for n, s in pt["shapes"].items()),
                (str(e).strip().splitlines() or [type(e).__name__])[0][:200]))
        calls[pt["label"]] = (lambda f: lambda: sess.run(names, f))(feed)
    protocol = target.protocol
    t0 = time.time()
    one = max(float(np.median([_once(c) for _ in range(3)])) for c in calls.values())
    per_round_s = len(calls) * max(protocol.repeat * one, protocol.min_round_ms) / 1000.0
    rounds = int(max(3, min(protocol.rounds, budget_s // max(per_round_s, 1e-3))))
    samples = measure_interleaved(calls, replace(protocol, rounds=rounds, max_extra_rounds=min(protocol.max_extra_rounds, 2)),
                                  seed=seed)
    rows = []
    for pt in points:
        st = stats(samples[pt["label"]])
        rows.append({"label": pt["label"], "profile": pt["profile"],
                     "shapes": {n: list(s) for n, s in pt["shapes"].items()},
                     "median_ms": round(st["median_ms"], 4), "p90_ms": round(st["p90_ms"], 4),
                     "noise_pct": round(st["noise_pct"], 2), "rounds": st["rounds"]})
    ref = next((r for r in rows if r["label"] in (budget_at, "p0." + budget_at)), rows[0])
    for r in rows:
        r["ratio"] = round(r["median_ms"] / ref["median_ms"], 3) if ref["median_ms"] > 0 else None
    budget = getattr(target, "latency_budget_ms", None)
    return {"model": str(model), "target": target.name, "threads": target.threads, "profiles": S.to_json(profiles),
            "rows": rows, "budget_at": ref["label"], "budget_shapes": ref["shapes"], "budget_ms": budget,
            "protocol": {"rounds": rounds, "repeat": protocol.repeat, "interleaved": True},
            "seconds": round(time.time() - t0, 1)}


def _once(call) -> float:
    t0 = time.perf_counter()
    call()
    return (time.perf_counter() - t0) * 1000.0


def table(result: Dict[str, Any]) -> List[str]:
    """The min / opt / max latency table as Markdown lines, the budget shape named."""
    lines = ["| shape | input | median ms | p90 ms | noise % | x {} |".format(result["budget_at"]),
             "|---|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append("| {} | {} | {:.3f} | {:.3f} | {:.1f} | {:.2f} |".format(
            r["label"], ", ".join("{} {}".format(n, S.show(s)) for n, s in r["shapes"].items()), r["median_ms"],
            r["p90_ms"], r["noise_pct"], r["ratio"] or 0.0))
    lines.append("latency budgets apply at the {} shape ({}); {} interleaved rounds, {} thread(s), target {}".format(
        result["budget_at"], ", ".join("{} {}".format(n, S.show(s)) for n, s in result["budget_shapes"].items()),
        result["protocol"]["rounds"], result["threads"], result["target"]))
    return lines
