"""Datasets for supernet training and validation: the user's files or the Fashion-MNIST demo."""

from .loaders import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
