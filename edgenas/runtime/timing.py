"""Noise-managed latency measurement: warm-up, interleaved rounds, robust statistics, re-measurement.

CPU timing here drifts 7-18% between runs and up to 30% over minutes, so every item is measured in
several short rounds, each round visiting all items in a fresh random order. A slow minute then hits
all items alike instead of whichever was being timed. An item's latency is the median of its round
medians; its noise is the robust spread of those round medians.
"""

import math
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

Samples = Dict[str, List[List[float]]]  # name -> one list of per-call milliseconds per round


def time_calls(call: Callable[[], object], n: int) -> List[float]:
    """Milliseconds per call: host wall time, or the call's own float result where it returns one
    (the TensorRT runner returns CUDA-event time on its stream, host copies excluded)."""
    clock = time.perf_counter_ns
    out = []
    for _ in range(n):
        t0 = clock()
        r = call()
        t1 = clock()
        out.append(r if isinstance(r, float) else (t1 - t0) / 1e6)
    return out


def stats(rounds: Sequence[Sequence[float]]) -> Dict[str, float]:
    """median (of round medians), p90 / p10 (all calls), spread_pct ((p90-p10)/median), noise_pct
    (1.4826*MAD of round medians / median), count."""
    meds = np.array([np.median(r) for r in rounds if len(r)])
    allv = np.concatenate([np.asarray(r, dtype=float) for r in rounds if len(r)])
    med = float(np.median(meds))
    mad = float(np.median(np.abs(meds - med))) * 1.4826
    p10, p90 = np.percentile(allv, [10, 90])
    return {"median_ms": med, "p90_ms": float(p90), "p10_ms": float(p10),
            "spread_pct": 100.0 * float(p90 - p10) / med if med > 0 else 0.0,
            "noise_pct": 100.0 * mad / med if med > 0 else 0.0, "rounds": int(len(meds)), "count": int(allv.size)}


def measure_interleaved(calls: Dict[str, Callable[[], object]], protocol, samples: Optional[Samples] = None,
                        seed: int = 0, checkpoint: Optional[Callable[[Samples], None]] = None,
                        checkpoint_every_s: float = 5.0, bar=None,
                        acquire: Optional[Callable[[str], Callable[[], object]]] = None) -> Samples:
    """Time every call in ``calls`` for ``protocol.rounds`` interleaved rounds, then re-measure items whose
    noise exceeds ``protocol.max_spread_pct`` for up to ``protocol.max_extra_rounds`` rounds.

    ``samples`` resumes an earlier, interrupted measurement: rounds already recorded are kept.
    ``acquire(name)``, where given, returns the call to time at each visit (a runner pool activates a
    bounded number of models at a time); ``calls`` then only names the items.
    ``checkpoint(samples)`` is called every few seconds and after each round, so a kill loses at most
    a few seconds of work.
    """
    samples = {k: list(v) for k, v in (samples or {}).items() if k in calls}
    for k in calls:
        samples.setdefault(k, [])
    names = sorted(calls)
    last_save = [time.monotonic()]

    def save(force=False):
        if checkpoint is not None and (force or time.monotonic() - last_save[0] >= checkpoint_every_s):
            checkpoint(samples)
            last_save[0] = time.monotonic()

    def one_round(r: int, subset: List[str]) -> None:
        order = [subset[i] for i in np.random.default_rng(seed * 1000 + r).permutation(len(subset))]
        for name in order:
            if len(samples[name]) > r:
                continue
            call = acquire(name) if acquire is not None else calls[name]
            warm = time_calls(call, protocol.warmup if r == 0 else max(2, protocol.warmup // 4))
            est = max(float(np.median(warm)) if warm else 0.0, 1e-4)
            n = max(protocol.repeat, int(math.ceil(protocol.min_round_ms / est)))
            samples[name].append([round(x, 5) for x in time_calls(call, min(n, 10000))])
            if bar is not None:
                bar.update(1)
            save()
        save(force=True)

    for r in range(protocol.rounds):
        one_round(r, names)
    for extra in range(protocol.max_extra_rounds):
        noisy = [k for k in names if stats(samples[k])["noise_pct"] > protocol.max_spread_pct]
        if not noisy:
            break
        if bar is not None:
            bar.total = (bar.total or 0) + len(noisy)
            bar.set_postfix_str("re-measuring {} noisy".format(len(noisy)))
        one_round(protocol.rounds + extra, noisy)
    return samples
