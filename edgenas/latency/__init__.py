"""Profiling: ops bundles (host), bundle timing (board), latency tables and the predictor.

Board-side modules here (board, table, calibrate) import neither torch nor onnx.
"""
