"""Checks of a space's options (``--space-opt``, YAML, API): every bad value is one line naming the option,
the value and the fix, before any block string is built. Board-side safe (stdlib only, Python 3.8)."""

from typing import Any, Dict, Sequence

from ..errors import EdgenasError
from .blocks import ACTS


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _choices(space: str, key: str, values: Any, ok, each: str) -> None:
    """A list of choices: non-empty, each valid, no repeats."""
    where = "space '{}': option {}".format(space, key)
    if not isinstance(values, (list, tuple)) or not values:
        raise EdgenasError("{} must be a non-empty list (each {}), got {!r}".format(where, each, values))
    for v in values:
        if not ok(v):
            raise EdgenasError("{}: {!r} is not allowed (each must be {}); fix the list {!r}".format(where, v, each, list(values)))
    dup = sorted({repr(v) for v in values if list(values).count(v) > 1})
    if dup:
        raise EdgenasError("{}: {} listed more than once in {!r}; list each choice once".format(where, ", ".join(dup), list(values)))


def check_mbv3_options(space: str, c: Dict[str, Any]) -> None:
    """The MobileNetV3-style space's options (edgenas/space/mbv3.py)."""
    _choices(space, "depths", c["depths"], lambda v: _int(v) and v >= 1, "an integer >= 1, layers per stage")
    _choices(space, "kernels", c["kernels"], lambda v: _int(v) and v >= 1 and v % 2 == 1, "an odd integer >= 1, a kernel size")
    _choices(space, "expands", c["expands"], lambda v: _int(v) and v >= 1, "an integer >= 1, an expand ratio")
    _choices(space, "acts", c["acts"], lambda v: v in ACTS, "an activation: {}".format(" or ".join(ACTS)))
    _choices(space, "se", c["se"], lambda v: isinstance(v, bool), "true or false, squeeze-excite")
    for key in ("in_channels", "stem_channels", "head_channels", "num_classes", "stem_stride"):
        if not (_int(c[key]) and c[key] >= 1):
            raise EdgenasError("space '{}': option {} must be an integer >= 1, got {!r}".format(space, key, c[key]))
    for key in ("stem_act", "head_act"):
        if c[key] not in ACTS:
            raise EdgenasError("space '{}': option {} must be one of {}, got {!r}".format(space, key, ", ".join(ACTS), c[key]))
    stages: Sequence[Any] = c["stages"]
    if not isinstance(stages, (list, tuple)) or not stages:
        raise EdgenasError("space '{}': option stages must be a non-empty list of [channels, stride] pairs, got {!r}; "
                           "e.g. --space-opt 'stages=[[24,2],[40,2]]'".format(space, stages))
    for i, st in enumerate(stages):
        if not (isinstance(st, (list, tuple)) and len(st) == 2 and all(_int(v) for v in st)):
            raise EdgenasError("space '{}': stages[{}] must be [channels, stride] (two integers), got {!r}".format(space, i, st))
        if st[0] < 1:
            raise EdgenasError("space '{}': stages[{}] has {} channels; channels must be >= 1".format(space, i, st[0]))
        if st[1] < 1:
            raise EdgenasError("space '{}': stages[{}] has stride {}; strides must be >= 1 (1 keeps the size, 2 halves it)".format(
                space, i, st[1]))
