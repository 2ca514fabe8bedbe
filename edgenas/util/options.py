"""A stage's options, declared once as a dataclass: each field's default, help and range (the range is the
spec of the same name in edgenas.util.checks). The CLI flags, the API keywords (and the function's
signature, for help()) and the pipeline's YAML keys are all derived from it. Board-side safe (stdlib)."""

import dataclasses
import inspect
import typing
from typing import Any, Callable, Dict, Optional, Type

from ..errors import EdgenasError, suggest
from .checks import SPECS, check_args, cli_type


def opt(default: Any, help: str, *, flag: Optional[str] = None, pipeline: bool = True) -> Any:
    """A declared option: its default, its help line, its CLI flag (default ``--name-with-dashes``) and whether
    the pipeline's YAML section has it (False: the pipeline sets it itself, e.g. from a top-level key)."""
    return dataclasses.field(default=default, metadata={"help": help, "flag": flag, "pipeline": pipeline})


def _flag(f) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _choices(tp) -> Optional[tuple]:
    return tuple(tp.__args__) if getattr(tp, "__origin__", None) is typing.Literal else None


def add_arguments(parser, cls: Type[Any]) -> None:
    """One CLI flag per declared option: numbers parsed and range-checked by their spec, Literal types as choices."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        text = f.metadata.get("help", "")
        if f.default is not None:
            text += " (default {})".format(f.default)
        kw: Dict[str, Any] = {"default": f.default, "help": text}
        if _choices(hints[f.name]):
            kw["choices"] = list(_choices(hints[f.name]))
        elif f.name in SPECS:
            kw["type"] = cli_type(f.name, _flag(f))
        parser.add_argument(_flag(f), dest=f.name, **kw)


def from_args(cls: Type[Any], args) -> Any:
    """The options from a parsed argparse namespace (flags made by add_arguments)."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def build(cls: Type[Any], base: Any = None, where: str = "", **values: Any) -> Any:
    """``base`` (an instance, or the defaults) with ``values`` applied: unknown names are one line with a
    suggestion, numbers are range-checked by their spec (the CLI's message), Literal values are checked."""
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            raise EdgenasError("{}unknown option '{}'{}; options: {}".format(
                where + ": " if where else "", key, suggest(key, names), ", ".join(names)))
    merged = dict(dataclasses.asdict(base) if base is not None else {}, **values)
    obj = cls(**merged)
    check_args({f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)})
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        allowed = _choices(hints[f.name])
        if allowed and getattr(obj, f.name) not in allowed:
            raise EdgenasError("{} must be {}, not {!r}".format(f.name, " or ".join(repr(a) for a in allowed),
                                                               getattr(obj, f.name)))
    return obj


def pipeline_section(name: str, cls: Type[Any]) -> Type[Any]:
    """The pipeline YAML section of ``cls``: its options marked ``pipeline=True``, same names and defaults."""
    hints = typing.get_type_hints(cls)
    return dataclasses.make_dataclass(name, [(f.name, hints[f.name], dataclasses.field(default=f.default, metadata=f.metadata))
                                             for f in dataclasses.fields(cls) if f.metadata.get("pipeline", True)])


def with_signature(fn: Callable, cls: Type[Any]) -> Callable:
    """Give ``fn(..., options=None, *, extra..., **kwargs)`` the signature help() and IDEs show: ``**kwargs``
    replaced by each declared option as a keyword with its default."""
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    hints = typing.get_type_hints(cls)
    extra = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
             for f in dataclasses.fields(cls)]
    fn.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return fn
