"""Accuracy estimators: any callable ``G -> scores`` (higher is better) plugs into the search.

- ``SupernetEstimator``: weight sharing; BN re-calibrated per subnet, then top-1 on held-out data.
- ``NaswotEstimator``: zero-cost proxy (Mellor et al., NAS without training): log-determinant of the
  kernel of binary ReLU/hardswish activation codes over one batch, at initialisation.
- ``CachedEstimator``: memoises any estimator by genotype.
"""

from typing import Callable

import numpy as np
import torch

from ..util.torchdev import autocast
from .fakequant import FakeQuant
from .supernet import recalibrate_bn
from .tensors import ImageData, accuracy

Estimator = Callable[[np.ndarray], np.ndarray]


class CachedEstimator:
    def __init__(self, fn: Estimator) -> None:
        self.fn, self.cache = fn, {}  # type: Dict[bytes, float]

    def __call__(self, G: np.ndarray) -> np.ndarray:
        G = np.atleast_2d(G)
        todo = [g for g in G if g.tobytes() not in self.cache]
        if todo:
            for g, v in zip(todo, self.fn(np.array(todo))):
                self.cache[g.tobytes()] = float(v)
        return np.array([self.cache[g.tobytes()] for g in G])


class SupernetEstimator:
    """Top-1 (%) of each subnet on ``val`` after BN re-calibration on ``calib_batches`` batches of ``calib``."""

    def __init__(self, supernet, val: ImageData, calib: ImageData, calib_batches: int = 4, batch_size: int = 128,
                 amp=None, space=None) -> None:
        """``space``: the genotype's space (default: the supernet's; a MixedSpace adds precision genes)."""
        self.net, self.val, self.amp = supernet, val, amp
        self.space = space or supernet.space
        self.batches = calib.calibration_batches(calib_batches, batch_size)

    @torch.no_grad()
    def __call__(self, G: np.ndarray) -> np.ndarray:
        out = []
        for g in np.atleast_2d(G):
            arch = self.space.decode(g)
            plan = arch.get("precision")
            fq = FakeQuant() if plan and "int8" in plan else None
            with autocast(self.val.device, self.amp):
                recalibrate_bn(self.net, lambda xb: self.net(xb, arch), self.batches)
                if fq is not None:  # activation ranges of the calibrated subnet, as the INT8 calibrator sees them
                    fq.observing = True
                    for xb in self.batches[:2]:
                        self.net(xb, arch, fq)
                    fq.observing = False
                out.append(accuracy(lambda xb: self.net(xb, arch, fq), self.val))
        return np.array(out)


class NaswotEstimator:
    """NASWOT score of each architecture at random initialisation on one batch ``X`` (e.g. 64 images)."""

    def __init__(self, space, X, seed: int = 0) -> None:
        self.space, self.X, self.seed = space, X, seed

    @torch.no_grad()
    def __call__(self, G: np.ndarray) -> np.ndarray:
        scores = []
        for g in np.atleast_2d(G):
            torch.manual_seed(self.seed)
            model = self.space.build(self.space.decode(g)).to(self.X.device).train()
            codes = []
            hooks = [m.register_forward_hook(lambda m, i, o: codes.append((o.flatten(1) > 0).float()))
                     for m in model.modules() if isinstance(m, (torch.nn.ReLU, torch.nn.Hardswish))]
            model(self.X)
            for h in hooks:
                h.remove()
            c = torch.cat(codes, 1)
            K = c @ c.t() + (1 - c) @ (1 - c).t()
            scores.append(float(torch.slogdet(K)[1]))
        return np.array(scores)
