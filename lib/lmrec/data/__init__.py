"""Datasets: the core in-memory type, MovieLens-100K, split protocols and the papers' on-disk formats."""

from .dataset import InteractionDataset, make_interactions
from .errors import DatasetFormatError
from .loaders import load_dataset

__all__ = ["InteractionDataset", "DatasetFormatError", "load_dataset", "make_interactions"]
