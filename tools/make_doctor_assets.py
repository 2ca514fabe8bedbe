#!/usr/bin/env python3
"""Regenerate the tiny models `edgenas doctor` builds, runs and compares on a board (host side, torch):
edgenas/assets/doctor/{tiny.onnx, tiny.trt-int8.onnx, tiny.ort-int8.onnx, inputs.npz, ref_outputs.npz}.

    python tools/make_doctor_assets.py
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from edgenas.backends.onnxruntime import OrtRunner
from edgenas.compress.qdq import qdq_flavour, quantize_qdq
from edgenas.latency.bundle import randomize_batchnorm
from edgenas.modelio.onnx_export import export_onnx
from edgenas.targets import load_target
from edgenas.validation.compare import run_batched

OUT = Path(__file__).resolve().parent.parent / "edgenas" / "assets" / "doctor"


class Tiny(nn.Module):
    """Conv-BN-ReLU, a residual depthwise block, pooling and a classifier: the ops edgenas models use."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
                                nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        x = self.stem(x)
        return self.head(x + self.dw(x))


def main() -> int:
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    model = randomize_batchnorm(Tiny()).eval()
    fp32 = export_onnx(model, (1, 3, 32, 32), OUT / "tiny.onnx")
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((8, 1, 3, 32, 32)).astype(np.float32)
    calib = [inputs[i] for i in range(8)]
    for name, target in (("tiny.trt-int8.onnx", "t4-trt-int8"), ("tiny.ort-int8.onnx", "cpu-x86-ort-int8")):
        t = load_target(target)
        quantize_qdq(fp32, OUT / name, calib, t.quantization, flavour=qdq_flavour(t))
    x = inputs[:, 0]
    with OrtRunner(fp32) as r:
        ref = run_batched(r, x, 1)
    np.savez(OUT / "inputs.npz", inputs=x)
    np.savez(OUT / "ref_outputs.npz", outputs=ref)
    for p in sorted(OUT.iterdir()):
        print("{:<22} {:>7} bytes".format(p.name, p.stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
