"""A user metric hook (``--metric module:function``): called with the outputs of the reference and of the
artifact, e.g. a detector's mAP; the report judges its drop. Board side: stdlib + numpy, Python 3.8.

The hook is ``function(outputs, labels) -> float`` (higher is better): ``outputs`` maps each model output's
name to its array over all validation samples (first axis = sample), ``labels`` is the inputs file's
``labels`` array (any shape, e.g. padded ground-truth boxes) or None. A hook that cannot be imported is a
one-line error; a hook that raises is the user's code failing, so its traceback is shown, labelled as such.
"""

import importlib
import importlib.util
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..errors import EdgenasError, UserCodeError

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # edgenas/: its frames are not the user's


def _user_traceback(exc: BaseException, spec: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(_PKG) and not f.filename.startswith("<frozen")]
    body = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(exc), exc))
    return ("--- traceback from your metric hook {} (your code, not edgenas) ---\nTraceback (most recent call last):\n{}"
            "--- end of your hook's traceback ---".format(spec, body))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return "{}: {}".format(type(exc).__name__, text[0][:200]) if text else type(exc).__name__


def _import(module: str, spec: str):
    if module.endswith(".py") or os.sep in module or "/" in module:
        path = Path(module)
        if not path.is_file():
            raise EdgenasError("--metric {}: file {} does not exist; give path/to/metrics.py:function or module:function".format(
                spec, path))
        name = "edgenas_metric_" + path.stem
        loader_spec = importlib.util.spec_from_file_location(name, str(path))
        if loader_spec is None or loader_spec.loader is None:
            raise EdgenasError("--metric {}: {} is not a Python file; give path/to/metrics.py:function".format(spec, path))
        mod = importlib.util.module_from_spec(loader_spec)
        try:
            loader_spec.loader.exec_module(mod)
        except Exception as e:
            raise UserCodeError("--metric {}: importing {} raised {}; fix that module (its traceback, from your code, is "
                                "below)".format(spec, path, _first_line(e)), _user_traceback(e, spec)) from e
        return mod
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # the console script's sys.path lacks the working directory, where a user's module usually is
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and (module == e.name or module.startswith(e.name + ".")):
            raise EdgenasError("--metric {}: cannot import module '{}' (not in {} nor on PYTHONPATH); run from its folder, "
                               "add its folder to PYTHONPATH, or give path/to/{}.py:function".format(
                                   spec, module, cwd, module.split(".")[-1])) from e
        raise UserCodeError("--metric {}: importing module '{}' raised {}; fix that module or install what it imports (its "
                            "traceback, from your code, is below)".format(spec, module, _first_line(e)),
                            _user_traceback(e, spec)) from e
    except Exception as e:
        raise UserCodeError("--metric {}: importing module '{}' raised {}; fix that module (its traceback, from your code, "
                            "is below)".format(spec, module, _first_line(e)), _user_traceback(e, spec)) from e
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def load_metric(spec: str) -> Callable[..., Any]:
    """The function named by ``module:function`` or ``path/to/file.py:function``."""
    if not isinstance(spec, str) or ":" not in spec or spec.endswith(":") or spec.startswith(":"):
        raise EdgenasError("--metric {!r}: give module:function (e.g. mymetrics:map50) or path/to/metrics.py:function".format(spec))
    module, _, name = spec.rpartition(":")
    mod = _import(module, spec)
    fn = getattr(mod, name, None)
    if fn is None:
        have = sorted(k for k, v in vars(mod).items() if callable(v) and not k.startswith("_"))
        raise EdgenasError("--metric {}: module '{}' has no function '{}'; it has: {}".format(spec, module, name, ", ".join(have) or "none"))
    if not callable(fn):
        raise EdgenasError("--metric {}: '{}' in '{}' is a {}, not a function".format(spec, name, module, type(fn).__name__))
    return fn


def call_metric(fn: Callable[..., Any], spec: str, outputs: Dict[str, np.ndarray], labels: Optional[Any], which: str) -> float:
    """``fn(outputs, labels)`` as one finite float; its failures are the user's code (traceback kept)."""
    try:
        value = fn(dict(outputs), labels)
    except Exception as e:
        raise UserCodeError("metric hook {} raised {} on the {} outputs; fix the hook (its traceback, from your code, is "
                            "below)".format(spec, _first_line(e), which), _user_traceback(e, spec)) from e
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.size == 1):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EdgenasError("metric hook {} returned {!r} on the {} outputs; it must return one finite number (higher is "
                           "better)".format(spec, value if not isinstance(value, np.ndarray) else "an array", which))
    return float(value)


def metric_row(spec: str, fn: Callable[..., Any], ref_outputs: Dict[str, np.ndarray], art_outputs: Dict[str, np.ndarray],
               labels) -> Dict[str, Any]:
    """{"metric", "reference", "artifact", "drop"} for the report (``fn`` from load_metric(spec))."""
    ref = call_metric(fn, spec, ref_outputs, labels, "reference")
    art = call_metric(fn, spec, art_outputs, labels, "artifact")
    return {"metric": spec, "reference": ref, "artifact": art, "drop": ref - art}
