"""Pipeline options: typed, from YAML or flags, with typo suggestions for unknown keys."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Literal, Optional

from ..errors import EdgenasError
from ..util.checks import check
from ..util.config import from_dict, read_yaml
from ..validation.report import Thresholds


@dataclass
class SupernetOpts:
    train_subset: Optional[int] = 4000
    val_size: int = 1000
    epochs: int = 1
    batch_size: int = 128
    lr: float = 0.05
    schedule: Literal["sandwich", "progressive"] = "sandwich"


@dataclass
class SearchOpts:
    budget: Optional[int] = None  # evaluations; None: the one default (edgenas.nas.defaults)
    population: Optional[int] = None
    generations: Optional[int] = None
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
    device: str = "auto"
    supernet: SupernetOpts = field(default_factory=SupernetOpts)
    search: SearchOpts = field(default_factory=SearchOpts)
    finetune: FinetuneOpts = field(default_factory=FinetuneOpts)
    prune: bool = True
    quantize: QuantizeOpts = field(default_factory=QuantizeOpts)
    validate: ValidateOpts = field(default_factory=ValidateOpts)
    board: Optional[str] = None  # a board from `edgenas board list`: the engine build and the validation run there
    # auto: mixed-precision search (int8 only where the table says it pays) for ONNX Runtime int8 targets
    precision: Literal["auto", "single", "mixed"] = "auto"

    def check_loaded(self, where: str) -> None:
        check("latency_ms", self.latency_ms, label=where + ".latency_ms")
        if self.latency_ms is None:
            raise EdgenasError("{}.latency_ms is required: the latency budget in ms".format(where))
        if self.board is not None:
            from ..board.registry import get_board

            try:
                get_board(str(self.board))
            except EdgenasError as e:
                raise EdgenasError("{}.board: {}".format(where, e))

    def validate_values(self) -> None:
        self.check_loaded("pipeline")


def load_pipeline(path) -> PipelineConfig:
    p = Path(path)
    if not p.is_file():
        raise EdgenasError("pipeline file {} does not exist".format(p))
    data = read_yaml(p)
    if data is None or data == {}:
        raise EdgenasError("pipeline file {} is empty; start from examples/cpu-demo.yaml (an empty file would silently "
                           "run every default)".format(p))
    return from_dict(PipelineConfig, data, where=p.name)


def config_dict(cfg: PipelineConfig) -> Dict[str, Any]:
    from dataclasses import asdict

    return asdict(cfg)
