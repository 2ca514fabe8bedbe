"""Training data as tensors on the training device: uint8 images at their native size (Fashion-MNIST is
47 MB; padded to 224 px in float it would be 12 GB), normalised and padded per batch on the device,
so a GPU step never waits for host indexing or copies."""

import warnings
from typing import Callable, Iterator, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F


class ImageData:
    """uint8 NCHW images + int64 labels on ``device``; ``batch(idx)`` gives normalised float inputs at
    ``resolution`` (zero-padded if smaller, centre-cropped if larger), as the board's preprocess does."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, resolution: int, mean: Optional[float] = None,
                 std: Optional[float] = None, device=None, channels_last: bool = False) -> None:
        self.device = torch.device(device or "cpu")
        self.resolution, self.channels_last = int(resolution), channels_last
        with warnings.catch_warnings():  # read-only (cached) arrays: never written through this tensor
            warnings.simplefilter("ignore", UserWarning)
            u8 = torch.from_numpy(np.ascontiguousarray(images))
        self.images = u8.to(self.device) if self.device.type == "cuda" else u8
        self.labels = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64)).to(self.device)
        if mean is None or std is None:
            mean, std = self._stats(u8)
        self.mean, self.std = float(mean), float(std)

    def _stats(self, u8: torch.Tensor) -> Tuple[float, float]:
        """Mean and std of the padded/cropped [0, 1] images, computed without materialising them."""
        s = s2 = 0.0
        n = 0
        for i in range(0, len(u8), 4096):
            x = self._geometry(u8[i:i + 4096].float().div_(255.0)).double()
            s, s2, n = s + float(x.sum()), s2 + float((x * x).sum()), n + x.numel()
        mean = s / n
        return mean, float(np.sqrt(max(s2 / n - mean * mean, 1e-12) * n / max(n - 1, 1)))

    def _geometry(self, x: torch.Tensor) -> torch.Tensor:
        h, r = x.shape[-1], self.resolution
        if h < r:
            p = r - h
            return F.pad(x, (p // 2, p - p // 2, p // 2, p - p // 2))
        if h > r:
            o = (h - r) // 2
            return x[..., o:o + r, o:o + r]
        return x

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def norm(self):
        return {"mean": self.mean, "std": self.std}

    def inputs(self, idx) -> torch.Tensor:
        u8 = self.images[idx.to(self.images.device)] if isinstance(idx, torch.Tensor) else self.images[idx]
        x = u8.to(self.device, non_blocking=True).float().div_(255.0)
        x = (self._geometry(x) - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def batch(self, idx) -> Tuple[torch.Tensor, torch.Tensor]:
        idx = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(idx)
        return self.inputs(idx), self.labels[idx.to(self.labels.device)]

    def batches(self, batch_size: int, rng: Optional[np.random.Generator] = None, shard: Tuple[int, int] = (0, 1),
                drop_last: bool = False) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Batches in a seeded random order (or in order without ``rng``). Under torchrun every rank draws
        the same global batch and takes its slice ``shard=(rank, world)`` of it."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        rank, world = shard
        for i in range(0, len(order), batch_size):
            glob = order[i:i + batch_size]
            if drop_last and len(glob) < batch_size:
                break
            per = len(glob) // world if world > 1 else len(glob)
            if per == 0:
                break
            yield self.batch(torch.from_numpy(glob[rank * per:(rank + 1) * per] if world > 1 else glob))

    def first(self, n: int) -> "ImageData":
        out = ImageData.__new__(ImageData)
        out.__dict__.update(self.__dict__)
        out.images, out.labels = self.images[:n], self.labels[:n]
        return out

    def calibration_batches(self, n_batches: int, batch_size: int) -> list:
        return [self.inputs(torch.arange(i * batch_size, min((i + 1) * batch_size, len(self))))
                for i in range(n_batches) if i * batch_size < len(self)]


@torch.no_grad()
def accuracy(forward: Callable, data: ImageData, batch_size: int = 500) -> float:
    """Top-1 (%) of ``forward`` over ``data``."""
    correct = 0
    for xb, yb in data.batches(batch_size):
        correct += int((forward(xb).argmax(1) == yb).sum())
    return 100.0 * correct / max(len(data), 1)
