"""Accuracy estimators: any callable ``G -> scores`` (higher is better) plugs into the search.

- ``SupernetEstimator``: weight sharing; BN re-calibrated per subnet, then top-1 on held-out data.
- ``NaswotEstimator``: zero-cost proxy (Mellor et al., NAS without training): log-determinant of the
  kernel of binary ReLU/hardswish activation codes over one batch, at initialisation.
- ``CachedEstimator``: memoises any estimator by genotype.
"""

from typing import Callable, Dict

import numpy as np
import torch

from .supernet import recalibrate_bn
from .train import accuracy

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
    """Top-1 (%) of each subnet on ``(X_val, y_val)`` after BN re-calibration on ``calib_batches``."""

    def __init__(self, supernet, X_val, y_val, X_calib, calib_batches: int = 4, batch_size: int = 128) -> None:
        self.net, self.X_val, self.y_val = supernet, X_val, y_val
        self.batches = [X_calib[i * batch_size:(i + 1) * batch_size] for i in range(calib_batches)]
        self.batches = [b for b in self.batches if len(b)]

    @torch.no_grad()
    def __call__(self, G: np.ndarray) -> np.ndarray:
        out = []
        for g in np.atleast_2d(G):
            arch = self.net.space.decode(g)
            recalibrate_bn(self.net, lambda xb: self.net(xb, arch), self.batches)
            out.append(accuracy(lambda xb: self.net(xb, arch), self.X_val, self.y_val))
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
            model = self.space.build(self.space.decode(g)).train()
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
