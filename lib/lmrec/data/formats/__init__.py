"""Readers and writers for the papers' own on-disk dataset formats.

``read_format(fmt, folder)`` returns an :class:`~lmrec.data.InteractionDataset` (``split_protocol="given"``)
and prints its statistics plus any format notes; ``write_format(fmt, dataset, folder)`` writes one, and
reading it back gives the same users, items and split interactions. Formats: ``rlmrec``, ``cllm4rec``,
``recformer`` (also LEARN), ``llmrec``. Side files too large or too method-specific for the core type
(embeddings, feature arrays, review texts) are listed in ``dataset.meta["extras"]`` and read with
:func:`read_rlmrec_embeddings`, :func:`read_llmrec_features`, :func:`read_cllm4rec_reviews`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..dataset import InteractionDataset
from ..errors import DatasetFormatError
from . import cllm4rec, llmrec, recformer, rlmrec
from ._common import require
from .cllm4rec import read_cllm4rec, read_cllm4rec_reviews, write_cllm4rec
from .llmrec import read_llmrec, read_llmrec_features, write_llmrec
from .recformer import read_recformer, write_recformer
from .rlmrec import read_rlmrec, read_rlmrec_embeddings, write_rlmrec

READERS: dict[str, Callable[[Path], InteractionDataset]] = {
    "rlmrec": read_rlmrec, "cllm4rec": read_cllm4rec, "recformer": read_recformer, "llmrec": read_llmrec,
}
WRITERS: dict[str, Callable[..., Path]] = {
    "rlmrec": write_rlmrec, "cllm4rec": write_cllm4rec, "recformer": write_recformer, "llmrec": write_llmrec,
}
# per format: the files a folder must hold -> what each holds
REQUIRED_FILES: dict[str, dict[str, str]] = {
    "rlmrec": rlmrec.REQUIRED_FILES, "cllm4rec": cllm4rec.REQUIRED_FILES, "recformer": recformer.REQUIRED_FILES,
    "llmrec": llmrec.REQUIRED_FILES,
}


def check_folder(fmt: str, folder: str | Path) -> Path:
    """``folder`` exists and holds the files format ``fmt`` requires (nothing is read): the cheap part of
    :func:`read_format`'s checks, with its messages, for callers that must refuse a folder before starting work."""
    if fmt not in READERS:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {sorted(READERS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(f"{folder}: not a folder; DATASET='{fmt}:<folder>' must name a folder in the {fmt} format")
    for name, what in REQUIRED_FILES[fmt].items():
        require(folder / name, what)
    return folder


def read_format(fmt: str, folder: str | Path, verbose: bool = True) -> InteractionDataset:
    """Read ``folder`` in format ``fmt``; print ``describe()`` and the format notes when ``verbose``."""
    folder = check_folder(fmt, folder)
    dataset = READERS[fmt](folder)
    if verbose:
        print(describe(dataset))
    return dataset


def describe(dataset: InteractionDataset) -> str:
    """``dataset.describe()`` followed by the format's notes (one per line)."""
    lines = [dataset.describe(), *(f"  note: {n}" for n in dataset.meta.get("notes", []))]
    extras = dataset.meta.get("extras") or {}
    if extras:
        lines.append(f"  extra files: {', '.join(sorted(set(extras.values())))}")
    return "\n".join(lines)


def write_format(fmt: str, dataset: InteractionDataset, folder: str | Path, **options) -> Path:
    """Write ``dataset`` into ``folder`` in format ``fmt`` (options go to the format's writer)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown dataset format {fmt!r}; choose one of {sorted(WRITERS)}")
    return WRITERS[fmt](dataset, Path(folder), **options)


__all__ = [
    "READERS", "WRITERS", "REQUIRED_FILES", "check_folder", "read_format", "write_format", "describe", "DatasetFormatError",
    "read_rlmrec", "write_rlmrec", "read_rlmrec_embeddings", "read_cllm4rec", "write_cllm4rec",
    "read_cllm4rec_reviews", "read_recformer", "write_recformer", "read_llmrec", "write_llmrec",
    "read_llmrec_features",
]
