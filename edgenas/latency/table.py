"""Latency tables: JSON with full provenance, never pickle. Board-side safe (stdlib + numpy)."""

import json
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.io import atomic_write_json

TABLE_SCHEMA = "edgenas.latency_table/1"
BUNDLE_SCHEMA = "edgenas.ops_bundle/1"
REQUIRED_HEADER = ("target", "target_sha256", "precision", "batch", "threads", "protocol",
                   "created", "space", "resolution", "calibration", "noise")
ENTRY_FIELDS = ("median_ms", "p90_ms", "spread_pct", "count")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_header(h: Dict[str, Any], p) -> None:
    """Header fields present and of the right type, calibration sane: one line naming the field otherwise."""
    def bad(field: str, why: str):
        return EdgenasError("latency table {}: header {} {}; the header was edited or damaged: re-profile it".format(p, field, why))

    t = h.get("target")
    if not isinstance(t, dict) or not isinstance(t.get("name"), str) or t.get("backend") not in ("onnxruntime", "tensorrt", "torch"):
        raise bad("target", "must hold the target (name, backend)")
    if h.get("precision") not in ("fp32", "fp16", "int8"):
        raise bad("precision", "is {!r}, not fp32, fp16 or int8".format(h.get("precision")))
    for f in ("batch", "resolution"):
        if not _num(h.get(f)) or int(h[f]) != h[f] or h[f] < 1:
            raise bad(f, "is {!r}, not a positive integer".format(h.get(f)))
    sp = h.get("space")
    if not isinstance(sp, dict) or not isinstance(sp.get("name"), str) or not isinstance(sp.get("config"), dict):
        raise bad("space", "must hold the space's name and config")
    cal = h.get("calibration")
    if not isinstance(cal, dict):
        raise bad("calibration", "is missing")
    for f in ("scale", "offset_ms", "overhead_ms", "loo_mape_pct"):
        if not _num(cal.get(f)) or not math.isfinite(cal[f]):
            raise bad("calibration." + f, "is {!r}, not a finite number".format(cal.get(f)))
    if not 0.2 <= cal["scale"] <= 5.0:
        raise bad("calibration.scale", "is {:g}, outside the sane 0.2-5 range".format(cal["scale"]))
    if cal["overhead_ms"] < 0 or cal["loo_mape_pct"] < 0:
        raise bad("calibration", "has a negative overhead or error")
    noise = h.get("noise")
    if not isinstance(noise, dict) or not all(_num(noise.get(f)) for f in ("median_noise_pct", "p90_noise_pct")):
        raise bad("noise", "must hold median_noise_pct and p90_noise_pct numbers")


class LatencyTable:
    def __init__(self, header: Dict[str, Any], entries: Dict[str, Dict[str, Any]], path: Optional[str] = None) -> None:
        self.header, self.entries, self.path = header, entries, path

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else self.header.get("target", {}).get("name", "table")

    @property
    def target_name(self) -> str:
        return self.header["target"]["name"]

    @property
    def calibration(self) -> Dict[str, Any]:
        return self.header["calibration"]

    def to_json(self) -> Dict[str, Any]:
        return {"schema": TABLE_SCHEMA, "header": self.header, "entries": self.entries}

    def save(self, path) -> Path:
        self.path = str(path)
        return atomic_write_json(path, self.to_json())

    @classmethod
    def load(cls, path) -> "LatencyTable":
        p = Path(path)
        if not p.exists() and not p.is_absolute() and p.parent in (Path("."), Path("latency_tables")):
            from ..targets import find_data_file  # a shipped table by name, from any working directory

            p = find_data_file("latency_tables", p.name) or p
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise EdgenasError("latency table {} does not exist; list tables in latency_tables/ or profile one "
                               "with: edgenas profile".format(p))
        except (OSError, UnicodeDecodeError) as e:
            raise EdgenasError("cannot read latency table {}: {}".format(p, e))
        try:
            data = json.loads(text)
        except ValueError as e:
            raise EdgenasError("latency table {} is corrupt or truncated ({}); re-profile it".format(p, str(e).split(":")[0]))
        if not isinstance(data, dict) or "schema" not in data:
            raise EdgenasError("{} is not an edgenas latency table (no 'schema' field)".format(p))
        if data["schema"] != TABLE_SCHEMA:
            raise EdgenasError("latency table {} has schema '{}'; this edgenas reads '{}'".format(p, data["schema"], TABLE_SCHEMA))
        header, entries = data.get("header"), data.get("entries")
        if not isinstance(header, dict) or not isinstance(entries, dict):
            raise EdgenasError("latency table {} lacks its header or entries; re-profile it".format(p))
        missing = [k for k in REQUIRED_HEADER if k not in header]
        if missing:
            raise EdgenasError("latency table {} header lacks {}; re-profile it".format(p, ", ".join(missing)))
        for key, e in entries.items():
            if not isinstance(e, dict) or any(not _num(e.get(f)) for f in ENTRY_FIELDS):
                raise EdgenasError("latency table {}: entry '{}' lacks numeric {}".format(p, key, "/".join(ENTRY_FIELDS)))
            for f in ("median_ms", "p90_ms"):
                if not (math.isfinite(e[f]) and e[f] > 0):
                    raise EdgenasError("latency table {}: entry '{}' has {} {!r}; every latency must be a finite number > 0 "
                                       "(an edited or damaged table): re-profile it".format(p, key, f, e[f]))
        check_header(header, p)
        return cls(header, entries, str(p))

    def check_matches(self, space=None, target=None, precision: Optional[str] = None, strict: bool = True) -> List[str]:
        """Refuse (or, with ``strict=False``, return warnings for) a table from another space, target or precision."""
        problems = []
        if space is not None and self.header["space"].get("sha256") != space.sha256:
            problems.append("it was profiled for space '{}' (hash {}), not '{}' at resolution {} (hash {})".format(
                self.header["space"].get("name"), str(self.header["space"].get("sha256"))[:12], space.name,
                space.resolution, space.sha256[:12]))
        if target is not None and self.header["target"].get("name") != target.name:
            problems.append("it was measured on target '{}', not '{}'".format(self.header["target"].get("name"), target.name))
        elif target is not None and self.header.get("target_sha256") != target.sha256:
            print("warning: latency table {} was profiled for target '{}' with sha256 {}, but the target in use '{}' has "
                  "sha256 {} (its YAML differs); re-profile it if the change affects timing: edgenas profile --target {}".format(
                      self.name, self.header["target"].get("name"), str(self.header.get("target_sha256"))[:12], target.name,
                      target.sha256[:12], target.name), file=sys.stderr)
        if precision is not None and self.header["precision"] != precision:
            problems.append("its precision is {}, not {}".format(self.header["precision"], precision))
        if problems and strict:
            raise EdgenasError("latency table {}: {}".format(self.name, "; ".join(problems)))
        return problems

    def summary(self) -> List[str]:
        h = self.header
        cal, noise = h["calibration"], h["noise"]
        dev = (h.get("device") or {}).get("cpu", {})
        lines = [
            "table      {}".format(self.path or "-"),
            "target     {} ({} {}, batch {}, threads {})".format(h["target"]["name"], h["target"]["backend"], h["precision"], h["batch"], h["threads"]),
            "device     {} | {} cores | governor {}".format(dev.get("model", "?"), dev.get("logical_cores", "?"), ",".join(dev.get("governor", ["?"]))),
            "software   " + (", ".join("{} {}".format(k, v) for k, v in (h.get("software") or {}).items()) or "not recorded"),
            "space      {} @ {}px (hash {})".format(h["space"]["name"], h["resolution"], h["space"]["sha256"][:12]),
            "created    {}   profiling time {:.0f} s".format(h["created"], h.get("profiling_time_s", float("nan"))),
            "protocol   " + ", ".join("{}={}".format(k, v) for k, v in h["protocol"].items()),
            "entries    {}".format(len(self.entries)),
            "noise      median {:.1f}% / p90 {:.1f}% (robust CV of round medians); {} entries re-measured".format(
                noise["median_noise_pct"], noise["p90_noise_pct"], noise["remeasured"]),
            "calibration {}: e2e = {:.3f} x sum(op - {:.4f} ms) + {:.4f} ms over {} networks".format(
                cal.get("model", "affine"), cal["scale"], cal["overhead_ms"], cal["offset_ms"], cal["n_networks"]),
            "            fit MAPE {:.1f}% (max {:.1f}%), leave-one-out MAPE {:.1f}% (max {:.1f}%); naive sum/e2e {:.2f}-{:.2f}".format(
                cal["fit_mape_pct"], cal["fit_max_err_pct"], cal["loo_mape_pct"], cal["loo_max_err_pct"],
                cal["naive_ratio_min"], cal["naive_ratio_max"]),
        ]
        return lines
