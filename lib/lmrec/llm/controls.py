"""Controls for an LLM product: is it the LLM, or just the text? (issue 24, part 4)

A method that turns LLM text into per-node vectors (RLMRec's alignment targets, LLMRec's side features and
pairs) can take them from one of three sources, named by the same words everywhere (``PROFILE_SOURCE`` of the CF
notebooks 10-15, ``TEXT_SOURCE`` of notebook 21):

* ``generated`` — the LLM's products, as the method defines them (the default; nothing changes);
* ``raw`` — the same nodes' own text with no LLM (ML-100K: an item's title, year and genres, a user's age,
  gender and occupation), embedded by the same text embedder, for the same nodes the LLM covered;
* ``shuffled`` — the ``generated`` vectors moved to other nodes: a seeded random cycle through the covered nodes
  (every covered node gets another covered node's vector, the set of vectors is unchanged).

The ``raw`` control asks whether the LLM adds anything to the text it was shown; ``shuffled`` whether the
vectors help through what they say about *this* node, or only through what every such vector looks like.
"""

from __future__ import annotations

import numpy as np

TEXT_SOURCES = ("generated", "raw", "shuffled")
# what a report row carries after its method's label, so the controls never share a row with the method itself
SOURCE_LABELS = {"generated": "", "raw": " (raw text)", "shuffled": " (shuffled)"}


def check_text_source(value: str, name: str = "TEXT_SOURCE") -> str:
    """``value`` if it is one of :data:`TEXT_SOURCES`, else a ``ValueError`` naming the parameter and the choices."""
    if value not in TEXT_SOURCES:
        raise ValueError(f"{name}={value!r}: use one of {', '.join(TEXT_SOURCES)} (generated: the LLM's products, "
                         "raw: the nodes' own text with no LLM, shuffled: the generated vectors across nodes)")
    return value


def cycle_permutation(n: int, covered: np.ndarray | list[int], seed: int) -> np.ndarray:
    """``perm`` of ``range(n)``: ``perm[i] = i`` outside ``covered``; through the covered ids, one random cycle
    (seeded), so no covered id keeps its own row when there are two or more. ``rows[perm]`` moves each covered
    node's row to another covered node and leaves the others in place."""
    ids = np.unique(np.asarray(covered, dtype=np.int64))
    if ids.size and (ids[0] < 0 or ids[-1] >= n):
        raise ValueError(f"cycle_permutation: covered ids must lie in [0, {n}), got {ids[0]}..{ids[-1]}")
    perm = np.arange(n, dtype=np.int64)
    if ids.size >= 2:
        order = ids[np.random.default_rng(seed).permutation(ids.size)]
        perm[order] = np.roll(order, -1)  # order[k] takes the row of order[k + 1]
    return perm

