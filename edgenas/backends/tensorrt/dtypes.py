"""TensorRT ``DataType`` -> numpy dtype, by an explicit table (board side: numpy only, Python 3.8).

``trt.nptype`` is not used: in TensorRT 8.5.1/8.5.2 (JetPack 5.1.x) it builds its table with
``np.bool`` on every call, which numpy 1.24 removed, so every engine run ended in an AttributeError
(NVIDIA/TensorRT python/packaging/tensorrt/__init__.py at the 8.5.1 release; fixed to ``np.bool_``
in 8.5.3). The table below is that function's table as of TensorRT 10.3 (INT64 added in 10.0), with
``bool`` spelled the way every numpy has. Types numpy cannot hold (BF16, FP8, INT4, FP4, E8M0) are a
clear error instead of a wrong buffer size.
"""

from typing import Any, Dict

import numpy as np

from ...errors import EdgenasError

NUMPY_BY_TRT: Dict[str, str] = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT8": "int8",
    "INT32": "int32",
    "INT64": "int64",  # TensorRT >= 10.0
    "BOOL": "bool",
    "UINT8": "uint8",  # I/O only (TensorRT >= 8.5)
}
NO_NUMPY = ("BF16", "FP8", "INT4", "FP4", "E8M0")


def trt_dtype_name(dtype: Any) -> str:
    """'HALF' for ``trt.DataType.HALF`` (pybind11 enums have ``.name``; ``str()`` gives 'DataType.HALF')."""
    name = getattr(dtype, "name", None)
    if not isinstance(name, str) or not name:
        name = str(dtype).rsplit(".", 1)[-1]
    return name.upper()


def numpy_dtype(dtype: Any, tensor: str = "?", where: str = "the engine") -> np.dtype:
    """The numpy dtype of a TensorRT I/O tensor of type ``dtype`` (a ``trt.DataType`` or its name)."""
    name = trt_dtype_name(dtype)
    if name in NUMPY_BY_TRT:
        return np.dtype(NUMPY_BY_TRT[name])
    if name in NO_NUMPY:
        raise EdgenasError("I/O tensor '{}' of {} is {}, which numpy cannot hold; export the model with float32 or float16 "
                           "inputs and outputs (keep {} inside the network)".format(tensor, where, name, name))
    raise EdgenasError("I/O tensor '{}' of {} has TensorRT type {!r}, unknown to edgenas (known: {}); export the model "
                       "with float32 inputs and outputs".format(tensor, where, name, ", ".join(sorted(NUMPY_BY_TRT))))
