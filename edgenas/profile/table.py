"""Latency tables: JSON with full provenance, never pickle. Board-side safe (stdlib + numpy)."""

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.io import atomic_write_json

TABLE_SCHEMA = "edgenas.latency_table/1"
BUNDLE_SCHEMA = "edgenas.ops_bundle/1"
REQUIRED_HEADER = ("target", "target_sha256", "device", "software", "precision", "batch", "threads", "protocol",
                   "created", "space", "resolution", "calibration", "noise")
ENTRY_FIELDS = ("median_ms", "p90_ms", "spread_pct", "count")


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
            if not isinstance(e, dict) or any(not isinstance(e.get(f), (int, float)) for f in ENTRY_FIELDS):
                raise EdgenasError("latency table {}: entry '{}' lacks numeric {}".format(p, key, "/".join(ENTRY_FIELDS)))
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
        if precision is not None and self.header["precision"] != precision:
            problems.append("its precision is {}, not {}".format(self.header["precision"], precision))
        if problems and strict:
            raise EdgenasError("latency table {}: {}".format(self.name, "; ".join(problems)))
        return problems

    def summary(self) -> List[str]:
        h = self.header
        cal, noise = h["calibration"], h["noise"]
        dev = h["device"].get("cpu", {})
        lines = [
            "table      {}".format(self.path or "-"),
            "target     {} ({} {}, batch {}, threads {})".format(h["target"]["name"], h["target"]["backend"], h["precision"], h["batch"], h["threads"]),
            "device     {} | {} cores | governor {}".format(dev.get("model", "?"), dev.get("logical_cores", "?"), ",".join(dev.get("governor", ["?"]))),
            "software   " + ", ".join("{} {}".format(k, v) for k, v in h["software"].items()),
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
