"""Search spaces by name: list, create, and rebuild from the description stored in tables and run files."""

from typing import Any, Callable, Dict, List

from ..errors import EdgenasError, unknown
from .base import Space
from .mbv3 import mbv3, mbv3_small

_REGISTRY: Dict[str, Callable[..., Space]] = {"mbv3": mbv3, "mbv3-small": mbv3_small}


def register_space(name: str, factory: Callable[..., Space]) -> None:
    """Add a space factory under ``name`` (a second space plugs in without touching profiler or search)."""
    if name in _REGISTRY:
        raise ValueError("space '{}' registered twice".format(name))
    _REGISTRY[name] = factory


def list_spaces() -> List[str]:
    return sorted(_REGISTRY)


def get_space(name: str, **overrides: Any) -> Space:
    """Create a registered space by name; ``overrides`` replace config fields (e.g. resolution=28)."""
    if name not in _REGISTRY:
        raise unknown("search space", name, _REGISTRY)
    return _REGISTRY[name](**overrides)


def space_from_description(desc: Dict[str, Any]) -> Space:
    """Rebuild a space from the ``describe()`` dict stored in tables and run files, checking its hash."""
    try:
        space = get_space(desc["name"], **desc["config"])
    except (KeyError, TypeError):
        raise EdgenasError("the space description {!r} is missing 'name' or 'config'".format(desc))
    if desc.get("precisions"):
        from .mixed import MixedSpace

        space = MixedSpace(space, desc["precisions"])
    if desc.get("sha256") and desc["sha256"] != space.sha256:
        raise EdgenasError("space '{}' has changed since this file was written (hash {} != {}); "
                           "re-profile or use the edgenas version that wrote it".format(
                               desc["name"], desc["sha256"][:12], space.sha256[:12]))
    return space
