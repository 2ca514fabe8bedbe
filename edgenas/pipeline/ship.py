"""Which artifact the pipeline ships: the INT8 (or mixed) model only where it measured faster than its
own FP32 export in the same interleaved run and passed the accuracy checks; otherwise the FP32 export,
and the report says why. "INT8 is not faster" is the field's most common complaint: never ship it silently."""

import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional


def choose(validation: Optional[str], fp32: str, artifact: str, out_dir: Path) -> Dict[str, Any]:
    """Copy the artifact to ship (and its sidecar) into ``out_dir``; return the decision and its figures."""
    if artifact == fp32:
        return _ship(fp32, out_dir, "fp32", "the target is FP32")
    if not validation or not Path(validation).is_file():
        return _ship(artifact, out_dir, "int8", "not measured here: validate on the board before trusting its speed")
    rows = json.loads(Path(validation).read_text())["rows"]
    ref = next((r for r in rows if r["stage"].startswith("reference")), {})
    art = [r for r in rows if not r["stage"].startswith("reference")][-1]  # "artifact", or "artifact on <board target>"
    t_ref, t_art = ref.get("latency_p50_ms"), art.get("latency_p50_ms")
    # every check but the latency ones: accuracy, agreement, cosine, tolerances and the metric, per output
    failed = [k for k, v in art.get("checks", {}).items() if v is False and k not in ("latency", "budget")]
    accurate = not failed
    figures = {"int8_ms": t_art, "fp32_ms": t_ref, "speedup": (t_ref / t_art) if t_ref and t_art else None,
               "int8_top1": art.get("top1"), "fp32_top1": ref.get("top1")}
    if t_ref is None or t_art is None:
        return dict(_ship(artifact, out_dir, "int8", "latency not measured"), **figures)
    if t_art >= t_ref:
        why = "INT8 measured {:.4f} ms against {:.4f} ms for its FP32 export ({:.2f}x): slower, so the FP32 export ships".format(
            t_art, t_ref, t_ref / t_art)
        return dict(_ship(fp32, out_dir, "fp32", why), **figures)
    if not accurate:
        why = "INT8 is {:.2f}x faster but fails the accuracy thresholds, so the FP32 export ships (failing: {})".format(
            t_ref / t_art, ", ".join(failed))
        return dict(_ship(fp32, out_dir, "fp32", why), **figures)
    why = "INT8 measured {:.4f} ms against {:.4f} ms for FP32 ({:.2f}x faster) and passed the accuracy checks".format(
        t_art, t_ref, t_ref / t_art)
    return dict(_ship(artifact, out_dir, "int8", why), **figures)


def _ship(path: str, out_dir: Path, precision: str, reason: str) -> Dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / Path(path).name
    shutil.copyfile(path, dst)
    side = Path(path + ".json")
    if side.is_file():
        shutil.copyfile(str(side), str(dst) + ".json")
        precision = json.loads(side.read_text()).get("precision", precision)  # int8, or mixed for a precision plan
    return {"shipped": str(dst), "precision": precision, "reason": reason}
