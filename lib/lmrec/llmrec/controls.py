"""LLMRec's augmentation without the LLM, or shuffled: the controls of :mod:`lmrec.llm.controls` for notebook 21's
``TEXT_SOURCE`` (is it the LLM or just the text?).

Both are made from notebook 20's augmentation (the ``generated`` one) and keep its coverage: the users with an LLM
profile, the items with LLM attributes and the users with an LLM pair are the ones that get a control feature or
pair, so only what the vectors say changes, never how many nodes carry one. The item-text feature (title, year,
genres) is no LLM product: every source keeps it.

* ``raw``: no LLM. A user's profile feature embeds the user's own attributes (``age: 24, gender: M, occupation:
  technician``); the three item-attribute features (director, country, language) embed the item's own three text
  fields, one each in column order (ML-100K: title, year, genres), as ``field: value`` like the LLM's; the pair is
  the candidate whose item-text vector is closest to (liked) and farthest from (disliked) the mean item-text vector
  of the user's history as the LLM saw it (its last ``max_history`` training items, cosine). The same embedder as
  the augmentation's.
* ``shuffled``: the generated profile rows move along a random cycle through the profiled users, the attribute rows
  (the three together) along one through the attributed items, and the pairs along one through the users with a
  pair (:func:`lmrec.llm.controls.cycle_permutation`, seeded by ``seed``, ``seed + 1``, ``seed + 2``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..data.text import text_cells
from ..llm.controls import SOURCE_LABELS, check_text_source, cycle_permutation
from ..llm.embed import EmbedConfig
from .parsing import ATTRIBUTE_FIELDS
from .pipeline import ROW_NAMES, Augmentation, _embed_rows
from .prompts import history_items


def control_augmentation(aug: Augmentation, dataset, source: str, seed: int) -> Augmentation:
    """``aug`` itself for ``generated``; else its ``raw`` or ``shuffled`` control (module doc), a new
    :class:`Augmentation` with the same coverage (``aug`` is left unchanged)."""
    check_text_source(source)
    if source == "generated":
        return aug
    return raw_augmentation(aug, dataset) if source == "raw" else shuffled_augmentation(aug, seed)


def _pair_users(aug: Augmentation) -> np.ndarray:
    return np.flatnonzero(np.asarray(aug.aug_pos) >= 0)


def raw_augmentation(aug: Augmentation, dataset) -> Augmentation:
    """The ``raw`` control of ``aug``: features and pairs from the nodes' own text, no LLM (module doc)."""
    if dataset.item_text is None or len(dataset.item_text.columns) < len(ATTRIBUTE_FIELDS):
        have = [] if dataset.item_text is None else list(dataset.item_text.columns)
        raise ValueError(f"TEXT_SOURCE='raw': the item-attribute features take the item's own {len(ATTRIBUTE_FIELDS)} "
                         f"text fields, dataset {dataset.name} has {have}; use TEXT_SOURCE 'generated' or 'shuffled'")
    embed = EmbedConfig(model=aug.spec["embed_model"])  # the augmentation's own embedder (notebook 20)
    item_text = aug.embeddings["item_text"]
    n_users, n_items, dim = dataset.n_users, dataset.n_items, item_text.shape[1]
    users = sorted(aug.profiles)
    items = sorted(aug.attributes)
    user_text = dataset.user_texts()
    own = dataset.item_text[list(dataset.item_text.columns[:len(ATTRIBUTE_FIELDS)])]
    columns = {field: str(col) for field, col in zip(ATTRIBUTE_FIELDS, own.columns)}
    cells = text_cells(own)
    emb = dict(aug.embeddings)
    emb["user_profile"] = _embed_rows(n_users, {u: user_text[u] for u in users}, embed, dim)
    for field, col in columns.items():
        emb[f"item_{field}"] = _embed_rows(n_items, {i: f"{col}: {cells.iloc[i][col]}" for i in items}, embed, dim)
    pos, neg = text_pairs(aug, dataset)
    profiles = {u: {"text": user_text[u]} for u in users}
    attributes = {i: {field: str(cells.iloc[i][col]) for field, col in columns.items()} for i in items}
    return replace(aug, aug_pos=pos, aug_neg=neg, profiles=profiles, attributes=attributes, embeddings=emb,
                   spec={**aug.spec, "text_source": "raw", "raw_attribute_columns": columns})


def text_pairs(aug: Augmentation, dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(pos, neg)`` over all users (``-1`` where none): for each user with an LLM pair, among the same candidates,
    the one whose item-text vector has the highest (pos) and the lowest (neg) cosine with the mean item-text vector
    of the user's last ``max_history`` training items (what the LLM's prompt showed)."""
    unit = np.asarray(aug.embeddings["item_text"], dtype=np.float64)
    unit = unit / np.clip(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12, None)
    seqs = dataset.sequences("train")
    row_of = {int(u): j for j, u in enumerate(np.asarray(aug.pair_users))}
    max_history = int(aug.spec.get("max_history", 0))
    pos = np.full(len(aug.aug_pos), -1, dtype=np.asarray(aug.aug_pos).dtype)
    neg = pos.copy()
    for u in _pair_users(aug):
        hist = history_items(seqs[u], max_history)
        if u not in row_of or len(hist) == 0:
            continue
        cands = np.asarray(aug.candidates[row_of[int(u)]], dtype=np.int64)
        sims = unit[cands] @ unit[hist].mean(0)
        pos[u], neg[u] = cands[int(np.argmax(sims))], cands[int(np.argmin(sims))]
    return pos, neg


def shuffled_augmentation(aug: Augmentation, seed: int) -> Augmentation:
    """The ``shuffled`` control of ``aug``: its LLM rows and pairs moved across nodes (module doc)."""
    emb = dict(aug.embeddings)
    user_perm = cycle_permutation(len(emb["user_profile"]), sorted(aug.profiles), seed)
    item_perm = cycle_permutation(len(emb["item_text"]), sorted(aug.attributes), seed + 1)
    pair_perm = cycle_permutation(len(aug.aug_pos), _pair_users(aug), seed + 2)
    emb["user_profile"] = np.ascontiguousarray(emb["user_profile"][user_perm])
    for field in ATTRIBUTE_FIELDS:
        emb[f"item_{field}"] = np.ascontiguousarray(emb[f"item_{field}"][item_perm])
    profiles = {u: aug.profiles[int(user_perm[u])] for u in aug.profiles}
    attributes = {i: aug.attributes[int(item_perm[i])] for i in aug.attributes}
    return replace(aug, aug_pos=np.asarray(aug.aug_pos)[pair_perm], aug_neg=np.asarray(aug.aug_neg)[pair_perm],
                   profiles=profiles, attributes=attributes, embeddings=emb,
                   spec={**aug.spec, "text_source": "shuffled", "shuffle_seed": seed})



def source_row(variant: str, source: str) -> str:
    """The report row of notebook 21's ``VARIANT`` under ``TEXT_SOURCE`` (``LLMRec``, ``LLMRec (raw text)``, ...);
    the base model has no augmentation, so only ``generated`` (nothing to control) goes with it."""
    check_text_source(source)
    if variant not in ROW_NAMES:
        raise ValueError(f"VARIANT={variant!r}; choose one of {list(ROW_NAMES)}")
    if variant == "base" and source != "generated":
        raise ValueError(f"TEXT_SOURCE={source!r} with VARIANT='base': the base model has no augmentation to "
                         "replace; use TEXT_SOURCE 'generated' for it")
    return ROW_NAMES[variant] + SOURCE_LABELS[source]


def control_caption(source: str, seed: int) -> str:
    """What a control run trained on, for its caption (empty for ``generated``)."""
    return {"generated": "",
            "raw": "TEXT_SOURCE raw: profile/attribute features and pairs from the nodes' own text, no LLM, for the "
                   "nodes the LLM covered",
            "shuffled": f"TEXT_SOURCE shuffled: the LLM's profile/attribute features and pairs moved across users/items "
                        f"(random cycles, seed {seed})"}[check_text_source(source)]
