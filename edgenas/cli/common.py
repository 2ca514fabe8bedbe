"""Helpers shared by subcommands: numeric flags checked by the shared validation layer, data/device
flags, space options."""

import json
from typing import Any, Dict, List, Optional

from ..errors import EdgenasError
from ..util.checks import cli_type


def num(p, flag: str, spec: Optional[str] = None, **kw) -> None:
    """A numeric flag parsed and range-checked by the spec of the same name (edgenas.util.checks)."""
    name = spec or flag.lstrip("-").replace("-", "_")
    p.add_argument(flag, type=cli_type(name, flag), **kw)


def add_data_args(p, val_default: int = 2000) -> None:
    p.add_argument("--data", help="image-folder tree, .npz, IDX folder, 'fashion-mnist' (default) or 'digits'")
    num(p, "--train-subset", help="train on this many images (default: all)")
    num(p, "--val-size", default=val_default, help="images held out of the train split for validation")


def add_device_arg(p) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present) | cpu | cuda | cuda:N")


def parse_space_opts(opts: Optional[List[str]]) -> Dict[str, Any]:
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


def space_from_args(name: str, args):
    """The space ``name`` with ``--space-opt`` and ``--resolution`` applied."""
    from ..space import get_space

    opts = parse_space_opts(getattr(args, "space_opt", None))
    if getattr(args, "resolution", None) is not None:
        opts["resolution"] = args.resolution
    return get_space(name, **opts)
