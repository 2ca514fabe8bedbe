"""Argument coercion shared by the stage functions: names or objects for targets and spaces, paths."""

from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

from ..errors import EdgenasError

Log = Optional[Callable[[str], None]]
PathLike = Union[str, Path]


def as_target(target):
    """A ``Target`` from a Target, a shipped target name or a YAML path."""
    from ..targets import Target, load_target

    if isinstance(target, Target):
        return target
    if not isinstance(target, (str, Path)) or not str(target):
        raise EdgenasError("target must be a target name (edgenas targets list), a YAML path or a Target, got {!r}".format(target))
    return load_target(str(target))


def as_space(space, resolution: Optional[int] = None, options: Optional[Dict[str, Any]] = None):
    """A ``Space`` from a Space or a registered name, with ``resolution`` and ``options`` applied."""
    from ..space import Space, get_space

    if isinstance(space, Space):
        if resolution is not None or options:
            raise EdgenasError("give resolution/space options with a space name, not with a Space object")
        return space
    opts = dict(options or {})
    if resolution is not None:
        opts["resolution"] = resolution
    return get_space(str(space), **opts)


def say(log: Log, text: str) -> None:
    if log is not None:
        log(text)


def read_arch(space, arch) -> Dict[str, Any]:
    """An arch given as a dict, an arch string, or a JSON file holding {"arch": "..."} or {"stages": [...]}."""
    import json

    if isinstance(arch, dict):
        space.encode(arch)
        return arch
    text = str(arch)
    p = Path(text)
    if text.endswith(".json") or p.is_file():
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EdgenasError("arch file {} does not exist".format(p))
        except (ValueError, UnicodeDecodeError):
            raise EdgenasError("arch file {} is not valid JSON".format(p))
        if isinstance(data, dict) and isinstance(data.get("arch"), str):
            return arch_with_plan(space, data["arch"], data.get("precision_plan"), p)
        if isinstance(data, dict) and "stages" in data:
            space.encode(data)
            return data
        raise EdgenasError("arch file {} must hold {{\"arch\": \"<arch string>\"}} or {{\"stages\": [...]}}".format(p))
    return arch_with_plan(space, text, None, "--arch")


def arch_with_plan(space, arch_string: str, plan, where) -> Dict[str, Any]:
    """An arch (with its precision plan where there is one) for ``space`` (mixed or not)."""
    from ..space.mixed import MixedSpace

    if isinstance(space, MixedSpace):
        if plan is None:
            raise EdgenasError("{}: a mixed-precision table needs the arch's precision plan: give the best.arch.json of a "
                               "mixed search (it holds 'precision_plan')".format(where))
        return space.with_plan(arch_string, plan)
    if plan is not None:
        return MixedSpace(space).with_plan(arch_string, plan)
    return space.from_string(arch_string)
