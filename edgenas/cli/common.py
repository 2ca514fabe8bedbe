"""Helpers shared by subcommands: reading arch arguments and space options."""

import json
from pathlib import Path
from typing import Any, Dict, List

from ..errors import EdgenasError


def parse_space_opts(opts: List[str]) -> Dict[str, Any]:
    """``--space-opt width=0.75`` style overrides; values are read as JSON where possible."""
    out: Dict[str, Any] = {}
    for item in opts or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EdgenasError("--space-opt '{}': expected KEY=VALUE, e.g. width=0.75".format(item))
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def read_arch(space, text: str) -> Dict[str, Any]:
    """An arch given as an arch string, or as a JSON file holding {"arch": "..."} or {"stages": [...]}."""
    p = Path(text)
    if text.endswith(".json") or p.is_file():
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EdgenasError("arch file {} does not exist".format(p))
        except ValueError:
            raise EdgenasError("arch file {} is not valid JSON".format(p))
        if isinstance(data, dict) and isinstance(data.get("arch"), str):
            return space.from_string(data["arch"])
        if isinstance(data, dict) and "stages" in data:
            space.encode(data)
            return data
        raise EdgenasError("arch file {} must hold {{\"arch\": \"<arch string>\"}} or {{\"stages\": [...]}}".format(p))
    return space.from_string(text)


def space_from_args(name: str, args):
    """The space ``name`` with ``--space-opt`` and ``--resolution`` applied."""
    from ..space import get_space

    opts = parse_space_opts(getattr(args, "space_opt", None))
    if getattr(args, "resolution", None) is not None:
        opts["resolution"] = args.resolution
    return get_space(name, **opts)
