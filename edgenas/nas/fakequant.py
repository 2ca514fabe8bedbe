"""Simulated INT8 for the supernet: what ONNX Runtime's static Q/DQ does to a layer, in float, so the
search sees what quantization costs each candidate. Activations (every conv input) are quantized per
tensor to uint8 with min/max ranges observed on calibration batches; weights per output channel to
symmetric int8."""

from typing import Dict, Tuple

import torch


class FakeQuant:
    def __init__(self) -> None:
        self.ranges: Dict[Tuple[int, str], Tuple[float, float]] = {}
        self.observing = False

    def act(self, key: Tuple[int, str], x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            lo, hi = float(x.min()), float(x.max())
            old = self.ranges.get(key)
            self.ranges[key] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
            return x
        lo, hi = self.ranges.get(key, (0.0, 0.0))
        lo, hi = min(lo, 0.0), max(hi, 0.0)  # the range always holds zero (uint8 with a zero point)
        scale = max((hi - lo) / 255.0, 1e-8)
        zp = int(min(255, max(0, round(-lo / scale))))
        return torch.fake_quantize_per_tensor_affine(x.float(), scale, zp, 0, 255).to(x.dtype)

    @staticmethod
    def weight(w: torch.Tensor) -> torch.Tensor:
        scale = (w.detach().abs().amax(dim=tuple(range(1, w.dim()))) / 127.0).clamp_min(1e-8).float()
        zp = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
        return torch.fake_quantize_per_channel_affine(w.float(), scale, zp, 0, -127, 127).to(w.dtype)
