"""The public Python API: one call per stage, typed arguments, a result object back. The CLI parses
arguments and calls these; the pipeline calls them directly. User errors raise ``EdgenasError`` with
the one-line message the CLI prints. Everything not listed in ``__all__`` is private.

    import edgenas
    t = edgenas.profile("cpu-x86-ort-int8", "runs/table.json", space="mbv3-small", resolution=28)
    sn = edgenas.train_supernet("runs/supernet", epochs=1, train_subset=4000)
    best = edgenas.search("cpu-x86-ort-int8", t.table, sn.checkpoint, "runs/search", latency_ms=0.25, budget=100)
"""

from .board.api import board_jobs, clean_board, remote_profile, setup_board
from .board.registry import BoardEntry, add_board, get_board, load_boards, remove_board
from .errors import EdgenasError
from .pipeline.config import PipelineConfig, load_pipeline
from .pipeline.run import PipelineResult, run_pipeline
from .space import get_space, list_spaces
from .targets import Target, list_targets, load_target
from .tasks.compress import ExportResult, PruneResult, QuantizeResult, export, prune, quantize
from .tasks.deploy import BuildResult, CheckResult, build, check
from .tasks.doctor import DoctorResult, doctor
from .tasks.own_model import ModelProfileResult, PlanResult, profile_model, quantize_auto
from .tasks.drift import DriftResult, check_table
from .tasks.inspect import PredictResult, TableInfo, inspect_table, predict
from .tasks.prune_own import PruneOwnResult, prune_own, prune_torch
from .tasks.profile import BundleResult, ProfileResult, plan_bundle, profile, profile_bundle
from .tasks.search import SearchResult, search
from .tasks.train import ModelResult, SupernetResult, extract, finetune, train_supernet
from .tasks.validate import ValidationResult, validate, validate_saved

__all__ = [
    # stages
    "profile", "plan_bundle", "profile_bundle", "train_supernet", "search", "extract", "finetune", "prune",
    "export", "quantize", "check", "build", "doctor", "validate", "validate_saved", "run_pipeline",
    "check_table", "profile_model", "quantize_auto", "predict", "inspect_table", "prune_own", "prune_torch",
    # boards over SSH (edgenas board ...)
    "add_board", "load_boards", "get_board", "remove_board", "setup_board", "board_jobs", "clean_board", "remote_profile",
    # results and configuration
    "ProfileResult", "BundleResult", "SupernetResult", "SearchResult", "ModelResult", "PruneResult", "ExportResult",
    "QuantizeResult", "CheckResult", "BuildResult", "DoctorResult", "ValidationResult", "PipelineResult",
    "DriftResult", "ModelProfileResult", "PlanResult", "PruneOwnResult", "PredictResult", "TableInfo", "BoardEntry",
    "PipelineConfig", "load_pipeline",
    # lookups
    "Target", "load_target", "list_targets", "get_space", "list_spaces", "EdgenasError",
]
