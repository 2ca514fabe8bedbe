"""The generic search-space interface (the registry lives in ``registry.py``).

A space is a list of categorical genes. The profiler, the predictor and the search only use this
interface, so a second space plugs in without touching them. Torch is needed only by ``build*``.
"""

import abc
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from ..util.io import sha256_json


@dataclass(frozen=True)
class Gene:
    name: str
    choices: Tuple[Any, ...]


class Space(abc.ABC):
    """A registered search space instance (name + resolved config)."""

    name: str = ""

    def __init__(self, **config: Any) -> None:
        self.config: Dict[str, Any] = dict(config)

    # --- identity -----------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return int(self.config["resolution"])

    def describe(self) -> Dict[str, Any]:
        return {"name": self.name, "config": self.config, "sha256": self.sha256}

    @property
    def sha256(self) -> str:
        return sha256_json({"name": self.name, "config": self.config})

    # --- genotype -----------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def genes(self) -> List[Gene]:
        """Categorical genes; a genotype is one choice index per gene."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cards = np.array([len(g.choices) for g in self.genes])
        return (rng.random((n, len(cards))) * cards).astype(np.int64)

    @abc.abstractmethod
    def decode(self, genotype: Sequence[int]) -> Dict[str, Any]:
        """Genotype -> arch (a JSON-able dict)."""

    @abc.abstractmethod
    def encode(self, arch: Dict[str, Any]) -> np.ndarray:
        """Arch -> a canonical genotype (inactive genes set to 0)."""

    @abc.abstractmethod
    def to_string(self, arch: Dict[str, Any]) -> str:
        """Arch -> canonical arch string."""

    @abc.abstractmethod
    def from_string(self, s: str) -> Dict[str, Any]:
        """Arch string -> arch; an invalid choice raises EdgenasError naming it and the allowed ones."""

    def canonical(self, G: np.ndarray) -> np.ndarray:
        """Genotypes with don't-care genes zeroed, so equal architectures compare equal."""
        return np.stack([self.encode(self.decode(g)) for g in np.atleast_2d(G)])

    # --- ops ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def all_ops(self) -> List[str]:
        """Every op key the space can produce at its resolution, in a fixed order."""

    @abc.abstractmethod
    def ops(self, arch: Dict[str, Any]) -> List[str]:
        """The op keys of one architecture, in execution order."""

    def op_index_matrix(self, G: np.ndarray) -> np.ndarray:
        """(n, L) indices into ``all_ops()`` of each genotype's ops, -1 where a slot is unused.

        Spaces override this with a vectorised version; this fallback loops in Python.
        """
        index = {k: i for i, k in enumerate(self.all_ops())}
        rows = [[index[k] for k in self.ops(self.decode(g))] for g in np.atleast_2d(G)]
        width = max(len(r) for r in rows)
        out = np.full((len(rows), width), -1, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    @abc.abstractmethod
    def op_input_shape(self, key: str) -> Tuple[int, ...]:
        """NCHW input shape of an op at batch 1."""

    @abc.abstractmethod
    def op_cost(self, key: str) -> Tuple[int, int]:
        """(params, MACs) of one op, computed analytically."""

    def cost(self, arch: Dict[str, Any]) -> Tuple[int, int]:
        p = m = 0
        for k in self.ops(arch):
            dp, dm = self.op_cost(k)
            p, m = p + dp, m + dm
        return p, m

    def op_stats(self) -> np.ndarray:
        """(n_ops + 1, 3) float array of params, MACs and activation bytes (input + output, fp32) per op;
        the last row is zeros for unused slots. Cached."""
        cached = getattr(self, "_op_stats", None)
        if cached is None:
            rows = []
            for k in self.all_ops():
                p, m = self.op_cost(k)
                shape = self.op_input_shape(k)
                rows.append((p, m, 4.0 * float(np.prod(shape)) * 2))
            cached = np.vstack([np.array(rows, dtype=float), np.zeros((1, 3))])
            self._op_stats = cached
        return cached

    def costs(self, G: np.ndarray) -> Dict[str, np.ndarray]:
        """Vectorised params, MACs and a peak-activation-memory estimate (bytes) for genotypes ``G``."""
        st = self.op_stats()[self.op_index_matrix(np.atleast_2d(G))]
        return {"params": st[..., 0].sum(1), "macs": st[..., 1].sum(1), "peak_act_bytes": st[..., 2].max(1)}

    def input_shape(self) -> Tuple[int, ...]:
        return self.op_input_shape(self.all_ops()[0])

    # --- torch (lazy) -------------------------------------------------------------------------
    @abc.abstractmethod
    def build_op(self, key: str):
        """A torch ``nn.Module`` for one op key."""

    def build(self, arch: Dict[str, Any]):
        """A torch ``nn.Module`` for the whole architecture: its ops in sequence."""
        import torch.nn as nn

        return nn.Sequential(*[self.build_op(k) for k in self.ops(arch)])
