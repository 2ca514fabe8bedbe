"""The ops bundle's manifest.json, checked key by key before any file is read or timed: a missing or
wrong-typed key is one line naming it and the fix (re-plan the bundle). Board-side safe (stdlib, Python 3.8)."""

from typing import Any, Dict, List, Tuple

from ..errors import EdgenasError

_STR, _INT, _DICT, _LIST = (str,), (int,), (dict,), (list,)
TOP: List[Tuple[str, tuple]] = [("sha256", _STR), ("created", _STR), ("target", _DICT), ("space", _DICT),
                                ("resolution", _INT), ("export", _DICT), ("ops", _LIST), ("networks", _LIST),
                                ("overhead", _DICT)]
FILE = [("file", _STR), ("sha256", _STR)]
OP = [("key", _STR)] + FILE + [("input", _DICT), ("params", _INT), ("macs", _INT)]
NET = [("name", _STR), ("arch", _STR), ("ops", _LIST)] + FILE
TARGET = [("name", _STR), ("precision", _STR)]
INPUT = [("shape", _LIST)]


def _type(tp: tuple) -> str:
    return {str: "a string", int: "an integer", dict: "a mapping", list: "a list"}[tp[0]]


def _check(obj: Dict[str, Any], spec, where: str, path) -> None:
    for key, tp in spec:
        if key not in obj:
            raise EdgenasError("ops bundle manifest {}: {} lacks '{}'; the manifest was edited or damaged: re-plan the "
                               "bundle (edgenas profile plan)".format(path, where, key))
        v = obj[key]
        if not isinstance(v, tp) or isinstance(v, bool):
            raise EdgenasError("ops bundle manifest {}: {}.{} must be {}, got {!r}; re-plan the bundle (edgenas profile "
                               "plan)".format(path, where, key, _type(tp), v if len(repr(v)) < 60 else type(v).__name__))


def check_manifest(m: Dict[str, Any], path) -> None:
    _check(m, TOP, "the manifest", path)
    _check(m["target"], TARGET, "target", path)
    _check(m["overhead"], FILE, "overhead", path)
    if not m["ops"]:
        raise EdgenasError("ops bundle manifest {}: 'ops' is empty; re-plan the bundle (edgenas profile plan)".format(path))
    for i, o in enumerate(m["ops"]):
        where = "ops[{}]".format(i)
        if not isinstance(o, dict):
            raise EdgenasError("ops bundle manifest {}: {} must be a mapping, got {!r}; re-plan the bundle".format(path, where, o))
        _check(o, OP, where, path)
        _check(o["input"], INPUT, where + ".input", path)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in o["input"]["shape"]):
            raise EdgenasError("ops bundle manifest {}: {}.input.shape {!r} must be integers >= 1; re-plan the bundle".format(
                path, where, o["input"]["shape"]))
    keys = {o["key"] for o in m["ops"]}
    for i, n in enumerate(m["networks"]):
        where = "networks[{}]".format(i)
        if not isinstance(n, dict):
            raise EdgenasError("ops bundle manifest {}: {} must be a mapping, got {!r}; re-plan the bundle".format(path, where, n))
        _check(n, NET, where, path)
        unknown = [k for k in n["ops"] if k not in keys]
        if unknown:
            raise EdgenasError("ops bundle manifest {}: {} uses op {!r}, which 'ops' lacks; re-plan the bundle".format(
                path, where, unknown[0]))
