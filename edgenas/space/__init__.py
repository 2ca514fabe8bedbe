"""Search spaces: block-string codec, the generic Space interface and the registry."""

from .base import Gene, Space
from .registry import get_space, list_spaces, register_space, space_from_description

__all__ = ["Gene", "Space", "get_space", "list_spaces", "register_space", "space_from_description"]
