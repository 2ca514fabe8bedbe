"""edgenas: hardware-aware NAS, compression and on-device validation for edge boards.

The public API (``edgenas.profile``, ``edgenas.search``, ``edgenas.quantize``, ``edgenas.validate``, ...)
is listed in ``edgenas.api`` and loaded on first use, so ``import edgenas`` stays cheap: torch, onnx
and TensorRT are imported only by the stages that need them.
"""

import importlib

from ._version import __version__ as __version__


def __getattr__(name):
    api = importlib.import_module(__name__ + ".api")
    if name == "api":
        return api
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError("module 'edgenas' has no attribute {!r}".format(name))


def __dir__():
    return sorted(list(importlib.import_module(__name__ + ".api").__all__) + ["__version__", "api"])
