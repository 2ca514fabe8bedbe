"""Result files meant to be committed (benchmarks' --json, docs/results/): no absolute machine paths.

Every string value that is an absolute path becomes relative to the result file's folder (or the working
directory) when it lies under it, else its file name: what the reader needs to find the file in the
repository, without ``/home/alice/...`` or a CI machine's temp folder. Board-side safe (stdlib only)."""

import os
from pathlib import Path
from typing import Any, Iterable

from .io import atomic_write_json


def portable_path(path: str, bases: Iterable[Path] = ()) -> str:
    """``path`` relative to the first base (then the working directory) that holds it, else its file name."""
    p = Path(os.path.abspath(os.path.expanduser(path)))
    for base in list(bases) + [Path.cwd()]:
        try:
            return p.relative_to(Path(os.path.abspath(str(base)))).as_posix()
        except ValueError:
            continue
    return p.name


def _is_abs_path(s: str) -> bool:
    """An absolute path of at least a folder and a file ("/s" as a unit is not one), with no spaces or newlines."""
    return (s.startswith("/") and s.count("/") >= 2 or s.startswith("~/")) and not any(c in s for c in " \n\t")


def portable(obj: Any, bases: Iterable[Path] = ()) -> Any:
    """``obj`` (JSON-like) with every absolute-path string made portable (see portable_path)."""
    bases = list(bases)
    if isinstance(obj, str):
        return portable_path(obj, bases) if _is_abs_path(obj) else obj
    if isinstance(obj, dict):
        return {k: portable(v, bases) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable(v, bases) for v in obj]
    return obj


def write_result_json(path, obj: Any) -> Path:
    """Atomic JSON of a result, its paths relative to the file's folder (see the module docstring)."""
    return atomic_write_json(path, portable(obj, [Path(path).parent]))
