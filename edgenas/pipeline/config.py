"""Pipeline options: typed, from YAML or flags, with typo suggestions for unknown keys."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Literal, Optional

from ..errors import EdgenasError
from ..targets import _read_yaml
from ..util.config import from_dict
from ..validate.report import Thresholds


@dataclass
class SupernetOpts:
    train_subset: Optional[int] = 4000
    val_size: int = 1000
    epochs: int = 1
    batch_size: int = 128


@dataclass
class SearchOpts:
    population: int = 12
    generations: int = 4
    mode: Literal["single", "pareto"] = "single"


@dataclass
class FinetuneOpts:
    epochs: int = 1
    train_subset: Optional[int] = 4000


@dataclass
class QuantizeOpts:
    method: Literal["minmax", "entropy", "percentile"] = "minmax"
    calib_size: int = 256
    min_sqnr_db: float = 15.0


@dataclass
class ValidateOpts(Thresholds):
    limit: int = 2000


@dataclass
class PipelineConfig:
    target: str = "cpu-x86-ort-int8"
    latency_ms: float = 0.25
    data: Optional[str] = None
    space: str = "mbv3-small"
    resolution: Optional[int] = None
    table: Optional[str] = None
    search_table: Optional[str] = None
    out: str = "runs/pipeline"
    seed: int = 0
    supernet: SupernetOpts = field(default_factory=SupernetOpts)
    search: SearchOpts = field(default_factory=SearchOpts)
    finetune: FinetuneOpts = field(default_factory=FinetuneOpts)
    prune: bool = True
    quantize: QuantizeOpts = field(default_factory=QuantizeOpts)
    validate: ValidateOpts = field(default_factory=ValidateOpts)

    def validate_values(self) -> None:
        if self.latency_ms <= 0:
            raise EdgenasError("latency_ms must be positive")


def load_pipeline(path) -> PipelineConfig:
    p = Path(path)
    if not p.is_file():
        raise EdgenasError("pipeline file {} does not exist".format(p))
    data = _read_yaml(p) or {}
    cfg = from_dict(PipelineConfig, data, where=p.name)
    cfg.validate_values()
    return cfg


def config_dict(cfg: PipelineConfig) -> Dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)
