"""The backends, found by folder: every ``edgenas/backends/<folder>/spec.py`` with a ``SPEC`` registers one.

``get_backend(name)`` replaces ``if backend == ...`` branches elsewhere; an unknown name is one line listing
the known ones. Board-side safe (stdlib only, Python 3.8); importing a spec imports none of its runtime."""

import importlib
from functools import lru_cache
from pathlib import Path
from typing import Dict, List

from ..errors import unknown
from .spec import BackendSpec


@lru_cache(maxsize=1)
def _registry() -> Dict[str, BackendSpec]:
    specs = {}
    for folder in sorted(p.parent.name for p in Path(__file__).resolve().parent.glob("*/spec.py")):
        spec = importlib.import_module("{}.{}.spec".format(__package__, folder)).SPEC
        specs[spec.name] = spec
    return specs


def list_backends() -> List[str]:
    return sorted(_registry())


def get_backend(name: str) -> BackendSpec:
    try:
        return _registry()[name]
    except KeyError:
        raise unknown("backend", str(name), list_backends(), "a backend is a folder under edgenas/backends/ with a spec.py")


def all_backends() -> List[BackendSpec]:
    return [_registry()[n] for n in list_backends()]
