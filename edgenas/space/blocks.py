"""timm-style block strings: ``ir_k5_e6_i24_o40_s2_hs_se@16``.

One string names an op everywhere: it is the table key, the log line and (joined) the genotype.
Tokens after the block type are ``<letters><number>`` fields or bare flags; ``@N`` is the input size.
"""

import re
from typing import Dict, Tuple, Union

from ..errors import EdgenasError

ACTS = ("re", "hs")  # ReLU (INT8-friendly), Hardswish
LAYER_ORDER = ("k", "e", "i", "o", "s") + ACTS + ("se",)


def make_divisible(v: float, divisor: int = 8) -> int:
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def out_size(r: int, stride: int) -> int:
    return (r - 1) // stride + 1


_FIELD = re.compile(r"^([a-z]+?)(\d+(?:\.\d+)?)$")
Value = Union[int, float, bool]


def parse_block(s: str) -> Tuple[str, Dict[str, Value]]:
    """Parse a block string into its type and fields; flags map to True, ``@N`` to field ``r``."""
    text = s.strip()
    fields: Dict[str, Value] = {}
    if "@" in text:
        text, _, res = text.partition("@")
        if not res.isdigit():
            raise EdgenasError("block '{}': input size after '@' must be an integer".format(s))
        fields["r"] = int(res)
    parts = text.split("_")
    if not parts[0] or not parts[0].isalpha():
        raise EdgenasError("block '{}': must start with a block type such as 'ir'".format(s))
    for tok in parts[1:]:
        m = _FIELD.match(tok)
        if m:
            num = m.group(2)
            fields[m.group(1)] = float(num) if "." in num else int(num)
        elif tok.isalpha():
            fields[tok] = True
        else:
            raise EdgenasError("block '{}': cannot read token '{}'".format(s, tok))
    return parts[0], fields


def format_block(kind: str, fields: Dict[str, Value], order: Tuple[str, ...] = ()) -> str:
    """Inverse of ``parse_block``: fields in ``order`` first, then the rest; ``r`` becomes ``@N``."""
    keys = [k for k in order if k in fields] + sorted(k for k in fields if k not in order and k != "r")
    toks = [kind]
    for k in keys:
        v = fields[k]
        if v is True:
            toks.append(k)
        elif v is False or v is None:
            continue
        else:
            toks.append("{}{}".format(k, v))
    out = "_".join(toks)
    if "r" in fields:
        out += "@{}".format(fields["r"])
    return out
