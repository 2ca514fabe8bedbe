"""The cheap model that screens candidates before the expensive estimator sees them (numpy only).

Gaussian-process regression on one-hot genotypes with an exponential Hamming kernel
``k(a, b) = exp(-h(a, b) / ell)``, ``h`` the fraction of genes that differ. A long ``ell`` makes the
model near-additive (a ridge on one-hot features); a short one lets it capture interactions. ``ell``
and the noise level are chosen by leave-one-out predictive likelihood (closed form), so the model is
as linear or as local as the data say. The posterior mean ranks candidates and its std makes the
ranking optimistic; ``Fit.batch`` picks a batch GP-BUCB style (Desautels et al. 2014).
"""

from typing import List, Sequence, Tuple

import numpy as np

ELLS = (0.05, 0.1, 0.2, 0.4, 1.0, 3.0)
NOISES = (1e-3, 1e-2, 0.05, 0.2, 0.5)


class Surrogate:
    def __init__(self, cardinalities: Sequence[int]) -> None:
        self.cards = np.asarray(cardinalities, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.cards)[:-1]])

    def onehot(self, G: np.ndarray) -> np.ndarray:
        X = np.zeros((len(G), int(self.cards.sum())))
        X[np.arange(len(G))[:, None], np.asarray(G) + self.offsets] = 1.0
        return X

    def kernel(self, XA: np.ndarray, XB: np.ndarray, ell: float) -> np.ndarray:
        return np.exp(-(1.0 - XA @ XB.T / len(self.cards)) / ell)

    def tune(self, G: np.ndarray, y: np.ndarray, last: int = 300) -> Tuple[float, float]:
        """(ell, noise) with the best leave-one-out log predictive density on the ``last`` rows."""
        X, z = self.onehot(G[-last:]), _standardise(np.asarray(y, float)[-last:])[0]
        best, best_hp = np.inf, (1.0, 0.05)
        for ell in ELLS:
            lam, Q = np.linalg.eigh(self.kernel(X, X, ell))
            Qz, Q2 = Q.T @ z, Q * Q
            for noise in NOISES:
                inv = 1.0 / (np.clip(lam, 0, None) + noise)
                alpha, d = Q @ (Qz * inv), Q2 @ inv
                s2 = max(float(z @ alpha) / len(z), 1e-12)
                var = s2 / d
                nlpd = float(np.mean(0.5 * np.log(var) + (alpha / d) ** 2 / (2 * var)))
                if nlpd < best:
                    best, best_hp = nlpd, (ell, noise)
        return best_hp

    def fit(self, G: np.ndarray, y: np.ndarray, hp: Tuple[float, float]) -> "Fit":
        return Fit(self, self.onehot(G), np.asarray(y, float), hp)


def _standardise(y: np.ndarray):
    mu, sd = float(np.mean(y)), float(np.std(y))
    sd = sd if sd > 1e-12 else 1.0
    return (y - mu) / sd, mu, sd


class Fit:
    """A fitted posterior: ``predict`` gives mean and std; ``batch`` picks optimistic, diverse rows."""

    def __init__(self, model: Surrogate, X: np.ndarray, y: np.ndarray, hp: Tuple[float, float]) -> None:
        self.m, self.X, (self.ell, self.noise) = model, X, hp
        z, self.mu, self.sd = _standardise(y)
        A = model.kernel(X, X, self.ell) + self.noise * np.eye(len(X))
        self.Ainv = np.linalg.inv(A)
        self.Ainv = 0.5 * (self.Ainv + self.Ainv.T)
        self.alpha = self.Ainv @ z
        self.s2 = max(float(z @ self.alpha) / len(z), 1e-12)

    def _cross(self, G: np.ndarray):
        Xc = self.m.onehot(G)
        return Xc, self.m.kernel(self.X, Xc, self.ell)  # (n, m)

    def predict(self, G: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        _, K = self._cross(G)
        var = self.s2 * np.clip(1.0 - np.sum(K * (self.Ainv @ K), 0), 0, None)
        return self.mu + self.sd * (K.T @ self.alpha), self.sd * np.sqrt(var)

    def batch(self, G: np.ndarray, k: int, kappa: float) -> List[int]:
        """Indices of ``k`` rows of ``G`` minimising mean - kappa * std, where after each pick the std
        shrinks as if that row had been observed (GP-BUCB): a batch spreads instead of clustering."""
        Xc, K = self._cross(G)
        W = self.Ainv @ K
        mean = self.mu + self.sd * (K.T @ self.alpha)
        var = self.s2 * np.clip(1.0 - np.sum(K * W, 0), 0, None)
        U: List[np.ndarray] = []
        picks: List[int] = []
        for _ in range(min(k, len(G))):
            score = mean - kappa * self.sd * np.sqrt(np.clip(var, 0, None))
            score[picks] = np.inf
            j = int(np.argmin(score))
            picks.append(j)
            cov = self.s2 * (self.m.kernel(Xc, Xc[j:j + 1], self.ell)[:, 0] - K.T @ W[:, j])
            for u in U:
                cov = cov - u * u[j]
            u = cov / np.sqrt(max(cov[j], 0) + self.s2 * self.noise)
            U.append(u)
            var = var - u * u
        return picks
