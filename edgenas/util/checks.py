"""One validation layer for every boundary: CLI flags, Python API arguments and YAML fields declare
their numbers by name here, and all three check them the same way, so ``--lr nan``, ``lr=float('nan')``
and ``lr: .nan`` give the same one-line error. Board side: stdlib only, Python 3.8.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..errors import EdgenasError


@dataclass(frozen=True)
class Num:
    """A numeric parameter's contract: integer or real, bounds, and whether None (unset) is allowed."""

    integer: bool = False
    gt: Optional[float] = None
    ge: Optional[float] = None
    le: Optional[float] = None
    optional: bool = False
    hint: str = ""

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        lo = "[{:g}".format(self.ge) if self.ge is not None else ("({:g}".format(self.gt) if self.gt is not None else None)
        if lo and self.le is not None:
            return "{} in {}, {:g}]".format(kind, lo, self.le)
        if lo:
            return "{} {} {:g}".format(kind, ">=" if self.ge is not None else ">", self.ge if self.ge is not None else self.gt)
        return "{} <= {:g}".format(kind, self.le) if self.le is not None else kind

    def check(self, name: str, value: Any) -> Any:
        if value is None:
            if self.optional:
                return None
            raise EdgenasError("{} is required: give {}".format(name, self.describe()))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EdgenasError("{} must be {}, got {!r}".format(name, self.describe(), value))
        if self.integer and not float(value).is_integer():
            raise EdgenasError("{} must be {}, got {!r}".format(name, self.describe(), value))
        if not math.isfinite(value) or (self.gt is not None and not value > self.gt) or \
                (self.ge is not None and not value >= self.ge) or (self.le is not None and not value <= self.le):
            raise EdgenasError("{} must be {}, got {!r}{}".format(name, self.describe(), value,
                                                                 "; " + self.hint if self.hint else ""))
        return int(value) if self.integer else float(value)


def _pos(hint: str = "") -> Num:
    return Num(gt=0, hint=hint)


def _count(lo: int = 1, hi: Optional[int] = None, optional: bool = False, hint: str = "") -> Num:
    return Num(integer=True, ge=lo, le=hi, optional=optional, hint=hint)


# Every numeric parameter of the CLI, the API and the YAML files, by its API name.
SPECS: Dict[str, Num] = {
    "latency_ms": Num(gt=0, le=1e6, optional=True, hint="a latency budget in milliseconds"),
    "params_m": Num(gt=0, le=1e6, optional=True), "flops_m": Num(gt=0, le=1e9, optional=True),
    "peak_mem_kb": Num(gt=0, le=1e9, optional=True),
    "lr": Num(gt=0, le=10.0), "epochs": _count(0, 10000), "finetune_epochs": _count(0, 10000),
    "batch_size": _count(1, 1 << 20), "train_subset": _count(1, optional=True), "val_size": _count(1),
    "limit": _count(1, optional=True), "test_limit": _count(1, optional=True), "calib_size": _count(1, 1 << 24),
    "seed": _count(0, 2 ** 32 - 1), "threads": _count(0, 4096), "networks": _count(3, 10000),
    "resolution": _count(8, 4096, optional=True), "population": _count(4, 100000, optional=True),
    "generations": _count(1, 1000000, optional=True), "budget": _count(1, 10 ** 7, optional=True),
    "mutation": Num(ge=0, le=1, optional=True), "crossover": Num(ge=0, le=1),
    "round_to": _count(1, 1024), "min_sqnr_db": Num(ge=-1, le=200), "inputs": _count(1, optional=True),
    "n": _count(1, 10 ** 6), "top": _count(0, 10 ** 6),
    "max_acc_drop": Num(ge=0), "min_agreement": Num(ge=0), "min_cosine": Num(ge=-1),
    "max_latency_over_predicted": Num(gt=0, le=1e6),
    "max_active": _count(1, 100000, optional=True),
    "max_metric_drop": Num(ge=0, hint="the largest allowed drop of the metric hook's value, in its own units"),
    "error_quantile": Num(gt=0, le=1), "max_latency_ms": Num(gt=0, le=1e6, optional=True),
    "timeout_s": Num(gt=0, le=1e7), "budget_s": Num(gt=0, le=1e5, hint="seconds of timing"), "max_upload_mb": Num(gt=0, le=1 << 30, hint="the upload cap in MB (2048 = 2 GiB)"),
}


def check(name: str, value: Any, spec: Optional[str] = None, label: Optional[str] = None) -> Any:
    """Check ``value`` against the spec ``spec`` (default: ``name``); errors name ``label`` (default: ``name``)."""
    return SPECS[spec or name].check(label or name, value)


def check_args(values: Dict[str, Any], prefix: str = "") -> None:
    """Check every entry of ``values`` that has a spec (API arguments, a YAML section)."""
    for key, value in values.items():
        if key in SPECS:
            SPECS[key].check(prefix + key, value)


def cli_type(spec: str, flag: str):
    """An argparse ``type=`` that parses and range-checks a flag with the shared spec."""
    num = SPECS[spec]

    def parse(text: str):
        try:
            value: Union[int, float] = int(text) if num.integer else float(text)
        except ValueError:
            raise EdgenasError("{} must be {}, got {!r}".format(flag, num.describe(), text))
        return num.check(flag, value)

    parse.__name__ = spec
    return parse


def _writable_folder(p: Path, what: str) -> None:
    """The nearest existing folder above ``p`` must be a writable folder (the rest is created)."""
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise EdgenasError("{} {}: {} is a file, not a folder; choose another path".format(what, p, probe))
    if not os.access(str(probe), os.W_OK | os.X_OK):
        raise EdgenasError("{} {}: folder {} is not writable; choose another path or fix its permissions".format(what, p, probe))


def output_path(path, what: str = "output") -> Path:
    """An output file path whose folder exists or can be created and is writable; one-line errors otherwise."""
    p = Path(path)
    _writable_folder(p.parent if str(p.parent) else Path("."), what)
    if p.is_dir():
        raise EdgenasError("{} {} is a folder; give a file path".format(what, p))
    return p


def output_dir(path, what: str = "output folder") -> Path:
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise EdgenasError("{} {} is a file; give a folder path".format(what, p))
    _writable_folder(p, what)
    return p


def input_file(path, what: str = "input") -> Path:
    p = Path(path)
    if not p.exists():
        raise EdgenasError("{} {} does not exist".format(what, p))
    if p.is_dir():
        raise EdgenasError("{} {} is a folder; give a file".format(what, p))
    if not os.access(str(p), os.R_OK):
        raise EdgenasError("{} {} is not readable; fix its permissions".format(what, p))
    return p
