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


def targets_dir() -> Path:
    env = os.environ.get("EDGENAS_TARGETS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "targets"


def list_targets() -> List[str]:
    d = targets_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def target_from_dict(data: Any, where: str = "target") -> Target:
    return from_dict(Target, data, where)


def load_target(name_or_path: str) -> Target:
    """Load a target by name (``targets/<name>.yaml``) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = targets_dir() / (str(name_or_path) + ".yaml")
        if not path.is_file():
            raise unknown("target", str(name_or_path), list_targets(), "list them with: edgenas targets list")
    elif not path.is_file():
        raise EdgenasError("target file {} does not exist".format(path))
    data = read_yaml(path)
    target = target_from_dict(data, where=path.name)
    if path.parent == targets_dir() and target.name != path.stem:
        raise EdgenasError("{}: name '{}' must match the file name '{}'".format(path.name, target.name, path.stem))
    return target
