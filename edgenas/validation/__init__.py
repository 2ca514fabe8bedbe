"""Validation: compare an artifact's outputs with the FP32 reference, latency with the table (board-side safe)."""
