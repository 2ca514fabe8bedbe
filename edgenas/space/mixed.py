"""A space whose genotype also chooses each op's precision: the base space's genes, then one gene per op
slot (stem, every layer slot, head) choosing int8 or fp32. Its ops are the table keys a mixed plan
runs: int8 ops under their plain keys, float ops as ``fp32:<key>``, and the precision boundaries a float
island inside an int8 network pays, ``quant_c<C>@<R>`` (float -> int8) and ``dequant_c<C>@<R>``.

Everything stays vectorised: ``op_index_matrix`` gives each genotype's table entries (ops and
boundaries), so the ordinary Predictor sums a mixed table like any other.
"""

from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..errors import EdgenasError
from ..util.io import sha256_json
from .base import Gene, Space
from .blocks import parse_block

PRECISIONS = ("int8", "fp32")  # index 0 is the target precision: the all-zeros genotype is the smallest all-int8 net
FLOAT_PREFIX = "fp32:"


def boundary_key(kind: str, channels: int, r: int) -> str:
    return "{}_c{}@{}".format(kind, channels, r)


class MixedSpace(Space):
    def __init__(self, base: Space, precisions: Sequence[str] = PRECISIONS) -> None:
        if tuple(precisions) != PRECISIONS:
            raise EdgenasError("mixed plans choose between {}; got {}".format(" and ".join(PRECISIONS), ", ".join(precisions)))
        super().__init__(**base.config)
        self.base, self.name = base, base.name
        self.precisions = tuple(precisions)
        n_slots = base.op_index_matrix(np.zeros((1, len(base.genes)), dtype=np.int64)).shape[1]
        labels = ["p.stem"] + ["p.slot{}".format(i) for i in range(1, n_slots - 1)] + ["p.head"]
        self._pgenes = [Gene(lab, self.precisions) for lab in labels]
        self.n_base, self.n_slots = len(base.genes), n_slots
        keys = base.all_ops()
        self._nk = len(keys)
        bounds, self._q, self._dq = [], np.full(len(keys), -1, np.int64), np.full(len(keys), -1, np.int64)
        for i, k in enumerate(keys):
            c, r = _input_cr(base, k)
            for kind, arr in (("quant", self._q), ("dequant", self._dq)):
                b = boundary_key(kind, c, r)
                if b not in bounds:
                    bounds.append(b)
                arr[i] = 2 * len(keys) + bounds.index(b)
        classes = int(base.config["num_classes"])
        self._dq_logits = 2 * len(keys) + len(bounds)
        bounds.append(boundary_key("dequant", classes, 1))
        self._keys = keys + [FLOAT_PREFIX + k for k in keys] + bounds

    # --- identity ------------------------------------------------------------------------------
    def describe(self) -> Dict[str, Any]:
        return dict(self.base.describe(), precisions=list(self.precisions), sha256=self.sha256)

    @property
    def sha256(self) -> str:
        return sha256_json({"base": self.base.sha256, "precisions": list(self.precisions)})

    @property
    def resolution(self) -> int:
        return self.base.resolution

    # --- genotype ------------------------------------------------------------------------------
    @property
    def genes(self) -> List[Gene]:
        return list(self.base.genes) + self._pgenes

    def split(self, G: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        G = np.atleast_2d(np.asarray(G, dtype=np.int64))
        return G[:, : self.n_base], G[:, self.n_base:]

    def decode(self, genotype: Sequence[int]) -> Dict[str, Any]:
        gb, gp = self.split(genotype)
        arch = self.base.decode(gb[0])
        active = self.base.op_index_matrix(gb)[0] >= 0
        arch["precision"] = [self.precisions[p] for p, a in zip(gp[0], active) if a]
        return arch

    def encode(self, arch: Dict[str, Any]) -> np.ndarray:
        plan = arch.get("precision") if isinstance(arch, dict) else None
        base = {k: v for k, v in arch.items() if k != "precision"}
        gb = self.base.encode(base)
        active = np.flatnonzero(self.base.op_index_matrix(gb[None])[0] >= 0)
        if not isinstance(plan, list) or len(plan) != len(active):
            raise EdgenasError("precision plan has {} entries but the architecture has {} ops (stem, layers, head); "
                               "give one precision per op".format(len(plan) if isinstance(plan, list) else 0, len(active)))
        gp = np.zeros(self.n_slots, dtype=np.int64)
        for slot, p in zip(active, plan):
            if p not in self.precisions:
                raise EdgenasError("precision '{}' in the plan is not supported here; choose {}".format(p, " or ".join(self.precisions)))
            gp[slot] = self.precisions.index(p)
        return np.concatenate([gb, gp])

    def to_string(self, arch: Dict[str, Any]) -> str:
        return self.base.to_string({k: v for k, v in arch.items() if k != "precision"})

    def from_string(self, s: str) -> Dict[str, Any]:
        raise EdgenasError("a mixed-precision arch needs its plan: give a JSON file with 'arch' and 'precision_plan'")

    def with_plan(self, arch_string: str, plan: Sequence[str]) -> Dict[str, Any]:
        arch = self.base.from_string(arch_string)
        arch["precision"] = list(plan)
        self.encode(arch)  # validates the plan's length and values
        return arch

    def canonical(self, G: np.ndarray) -> np.ndarray:
        gb, gp = self.split(G)
        gb = self.base.canonical(gb)
        gp = np.where(self.base.op_index_matrix(gb) >= 0, gp, 0)
        return np.hstack([gb, gp])

    # --- ops -----------------------------------------------------------------------------------
    def all_ops(self) -> List[str]:
        return list(self._keys)

    def op_index_matrix(self, G: np.ndarray) -> np.ndarray:
        """(n, 2 * slots + 1): each op (int8 or fp32 entry) preceded by its input boundary, then the logits'."""
        gb, gp = self.split(G)
        idx = self.base.op_index_matrix(gb)
        active = idx >= 0
        is_float = gp == 1
        ops = np.where(active, idx + np.where(is_float, self._nk, 0), -1)
        prev_float = np.ones(len(idx), dtype=bool)  # the network input is float
        bounds = np.full(idx.shape, -1, dtype=np.int64)
        safe = np.where(active, idx, 0)
        for j in range(idx.shape[1]):
            a, f = active[:, j], is_float[:, j]
            to_int8 = a & prev_float & ~f
            to_float = a & ~prev_float & f
            bounds[:, j] = np.where(to_int8, self._q[safe[:, j]], np.where(to_float, self._dq[safe[:, j]], -1))
            prev_float = np.where(a, f, prev_float)
        logits = np.where(~prev_float, self._dq_logits, -1)[:, None]
        out = np.empty((len(idx), 2 * idx.shape[1] + 1), dtype=np.int64)
        out[:, 0:-1:2], out[:, 1:-1:2], out[:, -1:] = bounds, ops, logits
        return out

    def ops(self, arch: Dict[str, Any]) -> List[str]:
        return [self._keys[i] for i in self.op_index_matrix(self.encode(arch)[None])[0] if i >= 0]

    def op_input_shape(self, key: str) -> Tuple[int, ...]:
        if key.startswith(FLOAT_PREFIX):
            return self.base.op_input_shape(key[len(FLOAT_PREFIX):])
        kind, f = parse_block(key)
        if kind in ("quant", "dequant"):
            return (1, int(f["c"])) if f["r"] == 1 else (1, int(f["c"]), int(f["r"]), int(f["r"]))
        return self.base.op_input_shape(key)

    def op_cost(self, key: str) -> Tuple[int, int]:
        if key.startswith(FLOAT_PREFIX):
            return self.base.op_cost(key[len(FLOAT_PREFIX):])
        if parse_block(key)[0] in ("quant", "dequant"):
            return 0, 0
        return self.base.op_cost(key)

    def costs(self, G: np.ndarray) -> Dict[str, np.ndarray]:
        return self.base.costs(self.split(G)[0])

    def cost(self, arch: Dict[str, Any]) -> Tuple[int, int]:
        return self.base.cost({k: v for k, v in arch.items() if k != "precision"})

    def input_shape(self) -> Tuple[int, ...]:
        return self.base.input_shape()

    def build_op(self, key: str):
        return self.base.build_op(key[len(FLOAT_PREFIX):] if key.startswith(FLOAT_PREFIX) else key)

    def build(self, arch: Dict[str, Any]):
        return self.base.build({k: v for k, v in arch.items() if k != "precision"})

    def float_blocks(self, arch: Dict[str, Any]) -> List[int]:
        """Indices of the model's blocks (stem = 0, ..., head) that the plan keeps in float."""
        return [i for i, p in enumerate(arch["precision"]) if p == "fp32"]


def _input_cr(base: Space, key: str) -> Tuple[int, int]:
    shape = base.op_input_shape(key)
    return int(shape[1]), int(shape[2])
