"""Latency prediction from a table: vectorised over genotypes, calibrated to end-to-end latency."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgenasError
from ..space.base import Space
from ..space.registry import space_from_description
from .calibrate import apply_calibration
from .table import LatencyTable


class Predictor:
    """``predict(G)`` gives calibrated end-to-end latency (ms) for a batch of genotypes."""

    def __init__(self, table: LatencyTable, space: Optional[Space] = None) -> None:
        self.table = table
        self.space = space or space_from_description(table.header["space"])
        table.check_matches(space=self.space)
        cal = table.calibration
        self._ovh = float(cal["overhead_ms"])
        keys = self.space.all_ops()
        lat = np.array([table.entries[k]["median_ms"] - self._ovh if k in table.entries else np.nan for k in keys])
        self._lat = np.append(lat, 0.0)  # index -1 (unused slot) reads 0
        self._keys = keys

    def block_sums(self, G: np.ndarray) -> np.ndarray:
        idx = self.space.op_index_matrix(np.atleast_2d(G))
        vals = self._lat[idx]
        if np.isnan(vals).any():
            self._raise_missing(idx[np.isnan(vals)])
        return vals.sum(axis=1)

    def predict(self, G: np.ndarray) -> np.ndarray:
        return apply_calibration(self.table.calibration, self.block_sums(G))

    def predict_arch(self, arch: Dict[str, Any]) -> Tuple[float, List[Tuple[str, float]]]:
        """(predicted end-to-end ms, [(op key, table median ms), ...])."""
        g = self.space.encode(arch)
        total = float(self.predict(g[None])[0])
        return total, [(k, self.table.entries[k]["median_ms"]) for k in self.space.ops(arch)]

    def _raise_missing(self, idx: Sequence[int]) -> None:
        missing = sorted({self._keys[i] for i in np.unique(idx)})
        h = self.table.header
        shown = ", ".join(missing[:5]) + (" and {} more".format(len(missing) - 5) if len(missing) > 5 else "")
        raise EdgenasError("latency table {} lacks {} op(s) this architecture uses: {}; profile them with: "
                           "edgenas profile --target {} --space {} --resolution {} --out {}".format(
                               self.table.name, len(missing), shown, h["target"]["name"], h["space"]["name"],
                               h["resolution"], self.table.path or "TABLE.json"))
