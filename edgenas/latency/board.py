"""Board side: time an ops bundle on the target's runtime and write a latency table.

Needs numpy and the backend's runtime (onnxruntime, or TensorRT), never torch. Resumable: measured
rounds are checkpointed to ``<out>.partial.json`` every few seconds and picked up by the next run.
"""

import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..errors import EdgenasError
from ..backends.pool import RunnerPool
from ..runtime.device import fingerprint, software_versions
from ..runtime.timing import measure_interleaved, stats
from ..util.io import atomic_write_json, sha256_file
from ..util.progress import progress
from .calibrate import fit_calibration
from .manifest import check_manifest
from .table import BUNDLE_SCHEMA, LatencyTable


def load_manifest(bundle_dir) -> Dict[str, Any]:
    path = Path(bundle_dir) / "manifest.json"
    if not path.is_file():
        raise EdgenasError("{} is not an ops bundle (no manifest.json); plan one on the host with: "
                           "edgenas profile plan --target T --space S --bundle {}".format(bundle_dir, bundle_dir))
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # truncated, torn, or binary (UnicodeDecodeError)
        raise EdgenasError("{} is corrupt or truncated; re-plan the bundle".format(path))
    except OSError as e:
        raise EdgenasError("cannot read {}: {}".format(path, e.strerror or e))
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        raise EdgenasError("{} has schema {!r}; this edgenas reads '{}'".format(path, manifest.get("schema") if isinstance(manifest, dict) else None, BUNDLE_SCHEMA))
    check_manifest(manifest, path)
    return manifest


def verify_bundle(bundle_dir, manifest: Dict[str, Any]) -> None:
    """Every file must exist and match its sha256, so a half-copied bundle fails before timing starts."""
    root = Path(bundle_dir)
    items = [(o["file"], o["sha256"], "op '{}'".format(o["key"])) for o in manifest["ops"]]
    items += [(n["file"], n["sha256"], "network {}".format(n["name"])) for n in manifest["networks"]]
    items.append((manifest["overhead"]["file"], manifest["overhead"]["sha256"], "overhead probe"))
    for rel, digest, what in items:
        p = root / rel
        if not p.is_file():
            raise EdgenasError("bundle {}: {} is missing ({}); copy the whole bundle again or re-plan it".format(bundle_dir, rel, what))
        if sha256_file(p) != digest:
            raise EdgenasError("bundle {}: {} is corrupt (sha256 mismatch, {}); copy the whole bundle again".format(bundle_dir, rel, what))


def _check_target(manifest: Dict[str, Any], target) -> None:
    planned = manifest["target"]
    if planned["precision"] != target.precision:
        raise EdgenasError("bundle was planned for {} ({}) but target '{}' is {}; plan a bundle for this target".format(
            planned["precision"], planned["name"], target.name, target.precision))
    if planned["name"] != target.name:
        sys.stderr.write("edgenas: warning: bundle planned for '{}', profiling as '{}'\n".format(planned["name"], target.name))


class _Tracked:
    """The progress bar, also reported to ``on_progress(done, total)`` (e.g. a remote job's progress file)."""

    def __init__(self, bar, on_progress, done: int) -> None:
        self.bar, self.on_progress, self.n = bar, on_progress, done

    @property
    def total(self):
        return self.bar.total

    @total.setter
    def total(self, value) -> None:
        self.bar.total = value

    def update(self, k: int = 1) -> None:
        self.bar.update(k)
        self.n += k
        if self.on_progress is not None:
            self.on_progress(self.n, int(self.bar.total or self.n))

    def set_postfix_str(self, s: str) -> None:
        self.bar.set_postfix_str(s)


def profile_bundle(bundle_dir, target, out_path, seed: int = 0, show_progress: bool = True,
                   protocol=None, max_active: Optional[int] = None,
                   on_progress: Optional[Callable[[int, int], None]] = None) -> LatencyTable:
    """Time the bundle into ``out_path`` (resumable; one profiler per table at a time)."""
    from ..util.lock import exclusive

    out_path = Path(out_path)
    with exclusive(out_path.with_name("." + out_path.name + ".lock"), "latency table {}".format(out_path)):
        return _profile(bundle_dir, target, out_path, seed, show_progress, protocol, max_active, on_progress)


def _profile(bundle_dir, target, out_path, seed, show_progress, protocol, max_active, on_progress) -> LatencyTable:
    manifest = load_manifest(bundle_dir)
    _check_target(manifest, target)
    verify_bundle(bundle_dir, manifest)
    protocol = protocol or target.protocol
    root = Path(bundle_dir)
    out_path = Path(out_path)
    partial_path = out_path.with_name(out_path.name + ".partial.json")
    ident = {"bundle_sha256": manifest["sha256"], "target_sha256": target.sha256, "protocol": protocol.__dict__}
    samples, elapsed_before = _load_partial(partial_path, ident)

    files = {"overhead": root / manifest["overhead"]["file"]}
    files.update({"op:" + o["key"]: root / o["file"] for o in manifest["ops"]})
    files.update({"net:" + n["name"]: root / n["file"] for n in manifest["networks"]})
    t0 = time.time()
    pool = RunnerPool(files, target, seed=seed, max_active=max_active)
    done = sum(len(v) for v in samples.values())
    if done:
        sys.stderr.write("edgenas: resuming {}: {} item-rounds already measured\n".format(partial_path, done))

    def checkpoint(s):
        atomic_write_json(partial_path, dict(ident, elapsed_s=elapsed_before + time.time() - t0, samples=s), indent=None)

    total = len(files) * protocol.rounds
    with progress(total, "profile {}".format(target.name), "item-rounds", disable=not show_progress) as bar:
        bar.update(done)
        tracked = _Tracked(bar, on_progress, done)
        try:
            samples = measure_interleaved({k: None for k in files}, protocol, samples, seed=seed, checkpoint=checkpoint,
                                          bar=tracked, acquire=pool.acquire)
        finally:
            pool.close()
    timer = pool.timer_summary("perf_counter_ns per call")
    timer["max_active"], timer["activations"] = pool.peak, pool.activations
    table = build_table(manifest, target, protocol, samples, elapsed_before + time.time() - t0, timer)
    return finish_table(table, out_path, partial_path, protocol)


def finish_table(table: LatencyTable, out_path: Path, partial_path: Path, protocol) -> LatencyTable:
    """Save the table, say what looks wrong with it, and drop the checkpoint it no longer needs."""
    table.save(out_path)
    for warning in quality_warnings(table, protocol):
        sys.stderr.write("edgenas: warning: {}\n".format(warning))
    if partial_path.exists():
        partial_path.unlink()
    return table


def _load_partial(path: Path, ident: Dict[str, Any]):
    if not path.is_file():
        return {}, 0.0
    try:
        data = json.loads(path.read_text())
    except ValueError:
        sys.stderr.write("edgenas: warning: {} is unreadable; starting over\n".format(path))
        return {}, 0.0
    diff = [k.replace("_sha256", "") for k, v in ident.items() if data.get(k) != v]
    if diff:
        raise EdgenasError("{} was measured with another {}; delete it to start over".format(path, " and ".join(diff)))
    return data.get("samples", {}), float(data.get("elapsed_s", 0.0))


def quality_warnings(table: LatencyTable, protocol) -> list:
    """Signs that the machine was busy or unstable while profiling: the table is still written."""
    out = []
    noise, cal = table.header["noise"], table.header["calibration"]
    if noise["p90_noise_pct"] > protocol.max_spread_pct:
        out.append("10% of entries still vary more than {:.0f}% between rounds (p90 {:.1f}%); the machine was busy "
                   "or throttling - stop other work, lock clocks, and profile again".format(
                       protocol.max_spread_pct, noise["p90_noise_pct"]))
    jet, gpu = table.header["device"].get("jetson", {}), table.header["device"].get("gpu", {})
    if jet.get("gpu_clock_locked") is False:
        out.append("the Jetson GPU clock was not locked (min != max freq); run sudo jetson_clocks and profile again")
    if gpu.get("throttle_reasons") not in (None, "0x0000000000000000", "0x0000000000000001", "Not Active"):
        out.append("nvidia-smi reports active clock throttling ({}); lock clocks and profile again".format(gpu["throttle_reasons"]))
    if cal["loo_mape_pct"] > 10:
        out.append("calibration leave-one-out error is {:.1f}%; predictions will be no better than that - "
                   "profile again on a quiet machine".format(cal["loo_mape_pct"]))
    return out


def build_table(manifest, target, protocol, samples, elapsed_s: float, timer: Optional[Dict[str, Any]] = None) -> LatencyTable:
    st = {k: stats(v) for k, v in samples.items()}
    overhead = st["overhead"]["median_ms"]
    entries = {}
    for o in manifest["ops"]:
        s = st["op:" + o["key"]]
        entries[o["key"]] = {"median_ms": round(s["median_ms"], 5), "p90_ms": round(s["p90_ms"], 5),
                             "spread_pct": round(s["spread_pct"], 2), "noise_pct": round(s["noise_pct"], 2),
                             "count": s["count"], "rounds": s["rounds"], "params": o["params"], "macs": o["macs"]}
    sums, measured, nets = [], [], []
    for n in manifest["networks"]:
        s = st["net:" + n["name"]]
        sums.append(sum(entries[k]["median_ms"] - overhead for k in n["ops"]))
        measured.append(s["median_ms"])
        nets.append({"name": n["name"], "arch": n["arch"], **({"precision_plan": n["precision_plan"]} if "precision_plan" in n else {}),
                     "measured_ms": round(s["median_ms"], 5),
                     "p90_ms": round(s["p90_ms"], 5), "noise_pct": round(s["noise_pct"], 2),
                     "block_sum_ms": round(sums[-1], 5)})
    cal = fit_calibration(sums, measured, overhead)
    noises = np.array([e["noise_pct"] for e in entries.values()])
    header = {
        "target": target.to_dict(), "target_sha256": target.sha256, "device": fingerprint(),
        "software": software_versions(), "precision": target.precision, "batch": target.batch,
        "threads": target.threads, "protocol": dict(protocol.__dict__, statistic="median of round medians",
                                                      interleaved=True, timer=timer or {"method": "perf_counter_ns per call"}),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "space": manifest["space"], "resolution": manifest["resolution"],
        "bundle": {"sha256": manifest["sha256"], "n_ops": len(manifest["ops"]), "export": manifest["export"],
                   "planned": manifest["created"]},
        "plan_time_s": manifest.get("plan_time_s"), "profiling_time_s": round(elapsed_s, 1),
        "calibration": cal, "calibration_networks": nets,
        "noise": {"median_noise_pct": float(np.median(noises)), "p90_noise_pct": float(np.percentile(noises, 90)),
                  "remeasured": int(sum(e["rounds"] > protocol.rounds for e in entries.values())),
                  "overhead_ms": overhead},
    }
    return LatencyTable(header, entries)
