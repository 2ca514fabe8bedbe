"""Typed dataclass configs from plain dicts (YAML/JSON), with one-line errors and typo suggestions.

Board-side safe: stdlib only, Python 3.8 compatible (uses ``typing.List`` etc., never ``list[int]``).
"""

import dataclasses
import math
import typing
from pathlib import Path
from typing import Any, Dict, Type, TypeVar

from ..errors import EdgenasError, suggest
from .checks import SPECS

T = TypeVar("T")
_MISSING = dataclasses.MISSING


def _type_name(tp) -> str:
    origin = typing.get_origin(tp) if hasattr(typing, "get_origin") else getattr(tp, "__origin__", None)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in tp.__args__)
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _convert(value: Any, tp, where: str):
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if tp is Any:
        return value
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except EdgenasError as e:
                errors.append(str(e))
        raise EdgenasError(errors[0] if errors else "{}: bad value {!r}".format(where, value))
    if origin is typing.Literal:
        if value not in args:
            raise EdgenasError("{}: {!r} is not allowed; choose one of {}{}".format(
                where, value, ", ".join(repr(a) for a in args), suggest(str(value), [str(a) for a in args])))
        return value
    if origin in (list, typing.List):
        if not isinstance(value, (list, tuple)):
            raise EdgenasError("{}: expected a list, got {!r}".format(where, value))
        return [_convert(v, args[0], "{}[{}]".format(where, i)) for i, v in enumerate(value)] if args else list(value)
    if origin in (dict, typing.Dict):
        if not isinstance(value, dict):
            raise EdgenasError("{}: expected a mapping, got {!r}".format(where, value))
        return {str(k): _convert(v, args[1], "{}.{}".format(where, k)) for k, v in value.items()} if args else dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise EdgenasError("{}: expected true or false, got {!r}".format(where, value))
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EdgenasError("{}: expected an integer, got {!r}".format(where, value))
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise EdgenasError("{}: expected a finite number, got {!r}".format(where, value))
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise EdgenasError("{}: expected a string, got {!r}".format(where, value))
        return value
    return value


def from_dict(cls: Type[T], data: Any, where: str = "config") -> T:
    """Build dataclass ``cls`` from ``data``, rejecting unknown keys (with a suggestion) and bad types."""
    if not isinstance(data, dict):
        raise EdgenasError("{}: expected a mapping of keys to values, got {}".format(where, type(data).__name__))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise EdgenasError("{}: unknown key '{}'{}; allowed keys: {}".format(
                where, key, suggest(str(key), fields), ", ".join(fields)))
    kwargs: Dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            raw = data[name]
            if name in SPECS and (raw is None or isinstance(raw, (int, float)) and not isinstance(raw, bool)):
                SPECS[name].check("{}.{}".format(where, name), raw)  # the CLI's and the API's range, same message
            kwargs[name] = _convert(raw, hints[name], "{}.{}".format(where, name))
        elif f.default is _MISSING and f.default_factory is _MISSING:  # type: ignore[misc]
            raise EdgenasError("{}: missing required key '{}' ({})".format(where, name, _type_name(hints[name])))
    obj = cls(**kwargs)
    check = getattr(type(obj), "check_loaded", None)
    if check is not None:
        check(obj, where)
    return obj


def to_dict(obj) -> Dict[str, Any]:
    return dataclasses.asdict(obj)


def read_yaml(path) -> Any:
    """Parsed YAML of ``path``; unreadable, binary or malformed files are one-line errors."""
    path = Path(path)
    try:
        import yaml
    except ImportError:
        raise EdgenasError("reading {} needs PyYAML: pip install pyyaml".format(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise EdgenasError("cannot read {}: {}".format(path, e.strerror))
    except UnicodeDecodeError:
        raise EdgenasError("{} is not a text YAML file (it holds binary data); give a YAML file".format(path))
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = " at line {}".format(mark.line + 1) if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise EdgenasError("{}: malformed YAML{}: {}".format(path, at, problem))
