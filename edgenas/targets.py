"""Board targets: one YAML per board + backend + precision, validated into a typed object.

Board-side safe (stdlib + PyYAML, imported lazily; Python 3.8).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional

from .errors import EdgenasError, unknown
from .util.config import from_dict, read_yaml, to_dict
from .util.io import sha256_json

Backend = Literal["onnxruntime", "tensorrt", "torch"]
Precision = Literal["fp32", "fp16", "int8"]


PROTOCOL_MAX = {"warmup": 100000, "repeat": 100000, "rounds": 1000, "max_extra_rounds": 1000, "min_round_ms": 60000.0}
TYPICAL_BUNDLE_OPS = 300  # ops + whole networks in a default ops bundle: the scale for the profiling-time bound


@dataclass
class Protocol:
    """How every latency is measured: warm-up calls, then ``rounds`` interleaved rounds of ``repeat`` calls."""

    warmup: int = 10
    repeat: int = 30
    rounds: int = 5
    min_round_ms: float = 5.0
    max_spread_pct: float = 10.0
    max_extra_rounds: int = 4

    def check_loaded(self, where: str) -> None:
        for name in ("warmup", "repeat", "rounds"):
            if getattr(self, name) < (0 if name == "warmup" else 1):
                raise EdgenasError("{}.{}: must be >= {}".format(where, name, 0 if name == "warmup" else 1))
        if self.rounds < 3:
            raise EdgenasError("{}.rounds: need at least 3 interleaved rounds for a noise estimate".format(where))
        for name in ("min_round_ms", "max_spread_pct"):
            if not getattr(self, name) > 0:
                raise EdgenasError("{}.{}: must be > 0, got {!r} (defaults: min_round_ms 5.0, max_spread_pct 10.0)".format(
                    where, name, getattr(self, name)))
        if self.max_extra_rounds < 0:
            raise EdgenasError("{}.max_extra_rounds: must be >= 0 (0: never re-measure a noisy op), got {}".format(
                where, self.max_extra_rounds))
        for name, most in PROTOCOL_MAX.items():
            if getattr(self, name) > most:
                raise EdgenasError("{}.{}: {} is more than {} (profiling would take days); lower it".format(
                    where, name, getattr(self, name), most))
        per_op_s = (self.rounds + self.max_extra_rounds) * self.min_round_ms / 1000.0
        if per_op_s * TYPICAL_BUNDLE_OPS > 24 * 3600:
            raise EdgenasError("{}: (rounds {} + max_extra_rounds {}) x min_round_ms {:g} is at least {:.0f} s per op, "
                               "{:.1f} days for a typical {}-op bundle; lower rounds or min_round_ms".format(
                                   where, self.rounds, self.max_extra_rounds, self.min_round_ms, per_op_s,
                                   per_op_s * TYPICAL_BUNDLE_OPS / 86400.0, TYPICAL_BUNDLE_OPS))


@dataclass
class Quantization:
    activation_type: Literal["uint8", "int8"] = "uint8"
    weight_type: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    method: Literal["minmax", "entropy", "percentile"] = "minmax"


@dataclass
class Board:
    name: str
    kind: Literal["cpu", "jetson", "gpu"] = "cpu"
    soc: Optional[str] = None
    gpu: Optional[str] = None
    compute_capability: Optional[str] = None
    power_mode: Optional[str] = None
    lock_clocks: Optional[str] = None
    notes: Optional[str] = None


@dataclass
class Software:
    onnxruntime: Optional[str] = None
    tensorrt: Optional[str] = None
    cuda: Optional[str] = None
    jetpack: Optional[str] = None
    l4t: Optional[str] = None


@dataclass
class Target:
    name: str
    board: Board
    backend: Backend
    precision: Precision
    description: str = ""
    batch: int = 1
    threads: int = 1
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    providers: List[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    workspace_mb: int = 1024
    software: Software = field(default_factory=Software)
    protocol: Protocol = field(default_factory=Protocol)
    quantization: Quantization = field(default_factory=Quantization)

    def check_loaded(self, where: str) -> None:
        if self.batch < 1:
            raise EdgenasError("{}.batch: must be >= 1".format(where))
        if self.threads < 0:
            raise EdgenasError("{}.threads: must be >= 0 (0 lets the runtime choose)".format(where))
        if self.backend == "torch" and self.precision == "int8":
            raise EdgenasError("{}: the torch backend runs fp32 or fp16; deploy int8 through onnxruntime or tensorrt".format(where))
        if self.backend == "onnxruntime" and self.precision == "fp16" and self.providers == ["CPUExecutionProvider"]:
            raise EdgenasError("{}: fp16 on ONNX Runtime's CPU provider is not a deployment precision; "
                               "use fp32 or int8".format(where))

    def to_dict(self) -> Dict[str, Any]:
        return to_dict(self)

    @property
    def sha256(self) -> str:
        return sha256_json(self.to_dict())


SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"  # package data: the shipped targets and latency tables
_ENV = {"targets": "EDGENAS_TARGETS", "latency_tables": "EDGENAS_TABLES"}


def search_dirs(kind: str) -> List[Path]:
    """Where ``targets`` or ``latency_tables`` are looked up, first match wins: the directories in
    $EDGENAS_TARGETS / $EDGENAS_TABLES (os.pathsep-separated), ``./<kind>`` in the working directory
    (a user's own), then the ones shipped inside the package. Missing directories are left out."""
    dirs = [Path(d) for d in os.environ.get(_ENV[kind], "").split(os.pathsep) if d]
    dirs += [Path.cwd() / kind, SHIPPED_DIR / kind]
    out, seen = [], set()
    for d in dirs:
        key = d.resolve() if d.is_dir() else None
        if key is not None and key not in seen:
            seen.add(key)
            out.append(d)
    return out


def targets_dir() -> Path:
    """The first target directory (see search_dirs); the shipped one when no other exists."""
    dirs = search_dirs("targets")
    return dirs[0] if dirs else SHIPPED_DIR / "targets"


def find_data_file(kind: str, filename: str) -> Optional[Path]:
    """The first ``<dir>/<filename>`` over search_dirs(kind), relative to the working directory when under it."""
    for d in search_dirs(kind):
        path = d / filename
        if path.is_file():
            try:
                return path.relative_to(Path.cwd())
            except ValueError:
                return path
    return None


def list_targets() -> List[str]:
    return sorted({p.stem for d in search_dirs("targets") for p in d.glob("*.yaml")})


def target_from_dict(data: Any, where: str = "target") -> Target:
    return from_dict(Target, data, where)


def load_target(name_or_path: str) -> Target:
    """Load a target by name (``targets/<name>.yaml``) or by path to a YAML file."""
    path = Path(name_or_path)
    by_name = path.suffix not in (".yaml", ".yml")
    if by_name:
        found = find_data_file("targets", str(name_or_path) + ".yaml") if path.name == str(name_or_path) else None
        if found is None:
            raise unknown("target", str(name_or_path), list_targets(), "list them with: edgenas targets list")
        path = found
    elif not path.is_file():
        raise EdgenasError("target file {} does not exist".format(path))
    data = read_yaml(path)
    target = target_from_dict(data, where=path.name)
    if (by_name or path.parent.resolve() in [d.resolve() for d in search_dirs("targets")]) and target.name != path.stem:
        raise EdgenasError("{}: name '{}' must match the file name '{}'".format(path.name, target.name, path.stem))
    return target
