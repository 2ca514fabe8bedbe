"""Output comparison (numpy only): top-1, agreement with the reference, errors and cosine similarity."""

from typing import Dict, Optional

import numpy as np


def compare_outputs(out: np.ndarray, ref: np.ndarray, labels: Optional[np.ndarray] = None) -> Dict[str, float]:
    out, ref = out.reshape(len(out), -1).astype(np.float64), ref.reshape(len(ref), -1).astype(np.float64)
    diff = np.abs(out - ref)
    cos = np.sum(out * ref, 1) / (np.linalg.norm(out, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12)
    res = {"n": int(len(out)), "top1_agreement": float(np.mean(out.argmax(1) == ref.argmax(1)) * 100),
           "max_abs_err": float(diff.max()), "mean_abs_err": float(diff.mean()),
           "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}
    if labels is not None:
        res["top1"] = float(np.mean(out.argmax(1) == labels) * 100)
        res["ref_top1"] = float(np.mean(ref.argmax(1) == labels) * 100)
    return res


def run_batched(runner, inputs: np.ndarray, batch: int) -> np.ndarray:
    """Outputs of ``runner`` over ``inputs`` in batches of the model's batch size."""
    name, shape, _ = runner.input_specs()[0]
    if tuple(inputs.shape[1:]) != tuple(shape[1:]):
        from ..errors import EdgenasError

        raise EdgenasError("inputs are {} per image but {} takes {}".format(list(inputs.shape[1:]), runner.path, list(shape[1:])))
    outs = []
    for i in range(0, len(inputs), batch):
        chunk = inputs[i:i + batch]
        if len(chunk) < batch and batch > 1:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), 0)])
        outs.append(next(iter(runner.infer({name: chunk}).values()))[: len(inputs[i:i + batch])])
    return np.concatenate(outs)
