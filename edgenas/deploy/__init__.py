"""Deployment: TensorRT engine building and its compatibility rules (TensorRT imported lazily)."""
