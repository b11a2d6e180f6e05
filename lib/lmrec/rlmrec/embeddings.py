"""Profile embeddings for RLMRec's alignments: where they come from and how they are checked.

``PROFILE_SOURCE``:

* ``"generated"`` — the embeddings of the LLM user/item profiles made by notebook ``02_embeddings``
  (read through :func:`lmrec.rlmrec.profiles.load_profile_embeddings`);
* a folder path — RLMRec's own ``usr_emb_np.pkl`` / ``itm_emb_np.pkl`` (from its data.zip, see
  :mod:`lmrec.rlmrec.data`), read by :func:`lmrec.data.formats.rlmrec.read_rlmrec_embeddings`;
* ``"item_text"`` — a profile-free stand-in: MiniLM embeddings of each item's own text
  (title/year/genres on ML-100K) and, for users, the mean over their training items (no LLM involved;
  useful when no profiles were generated, and labelled as such in the tables);
* ``"raw"`` and ``"shuffled"`` — the controls of :mod:`lmrec.llm.controls` (is it the LLM or just the text?),
  both made from notebook 02's product for the dataset, for the nodes it holds LLM profiles of (the same
  coverage masks as ``generated``): ``raw`` embeds each node's own text with 02's embedder (items: title, year,
  genres; users: age, gender, occupation; no LLM call), ``shuffled`` moves the ``generated`` vectors along a
  random cycle through the covered users, and one through the covered items, seeded by the split seed (so all
  training seeds on one split align to the same permutation). Their rows are labelled ``+Con (raw text)`` /
  ``+Con (shuffled)`` (:data:`lmrec.llm.controls.SOURCE_LABELS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch

from ..cf.alignment import AlignmentTargets
from ..llm.controls import TEXT_SOURCES, cycle_permutation
from ..paths import repo_path

if TYPE_CHECKING:
    from ..cf.notebook import CFSpec

PROFILE_SOURCES = ("generated", "raw", "shuffled", "item_text", "<folder with usr_emb_np.pkl/itm_emb_np.pkl>")
CONTROLS = tuple(s for s in TEXT_SOURCES if s != "generated")  # raw, shuffled: made from the generated product


def profile_targets(spec: CFSpec, dataset) -> AlignmentTargets | None:
    """What RLMRec's alignments of a CF run align to (``None`` for ``ALIGNMENT`` ``none``): the profile embeddings
    of ``spec.profile_source`` (a folder relative to the repository root), the nodes with a generated profile
    (failed ones stay out of the alignment losses) and the caption that counts them; pass it to
    :func:`lmrec.cf.notebook.train_backbone` as ``targets``."""
    if spec.alignment == "none":
        return None
    source = spec.profile_source
    if source in CONTROLS:
        return control_targets(source, dataset, seed=spec.seed if spec.split_seed < 0 else spec.split_seed)
    if source not in ("generated", "item_text"):
        source = str(repo_path(source))
    user, item = target_embeddings(source, dataset)
    user_mask, item_mask = target_masks(source, dataset)
    caption = ("profiles: item-text stand-in (no LLM)" if source == "item_text" else
               coverage_text(int(user_mask.sum()), user_mask.numel(), int(item_mask.sum()), item_mask.numel()))
    return AlignmentTargets(user, item, user_mask, item_mask, caption)


def target_masks(source: str, dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """``(user [n_users], item [n_items])`` bool: which nodes carry a GENERATED profile under ``source``.

    ``generated`` and a folder: read from its ``usr_prf.pkl`` / ``itm_prf.pkl`` (a failed profile is stored
    as a fallback stand-in text, see :func:`lmrec.rlmrec.profiles.fallback_profiles`; a folder without those
    files counts as fully profiled); ``item_text``: no LLM profiles at all, every node counts as covered by
    its stand-in (the tables label that source)."""
    from .profiles import dataset_key, profile_masks, rlmrec_data_folder

    if source == "item_text":
        user, item = np.ones(dataset.n_users, dtype=bool), np.ones(dataset.n_items, dtype=bool)
    else:
        folder = rlmrec_data_folder(dataset_key(dataset)) if source == "generated" else Path(source)
        user, item = profile_masks(folder, dataset.n_users, dataset.n_items)
    return torch.from_numpy(user), torch.from_numpy(item)


def control_targets(source: str, dataset, seed: int, folder: str | Path | None = None) -> AlignmentTargets:
    """The ``raw`` or ``shuffled`` control targets (module doc) made from the generated profile embeddings in
    ``folder`` (default: what notebook 02 last wrote for ``dataset``), with that product's coverage masks."""
    from .profiles import dataset_key, profile_masks, rlmrec_data_folder

    if source not in CONTROLS:
        raise ValueError(f"PROFILE_SOURCE={source!r} is no control; controls: {CONTROLS}")
    folder = Path(folder) if folder is not None else rlmrec_data_folder(dataset_key(dataset))
    user_mask, item_mask = profile_masks(folder, dataset.n_users, dataset.n_items)
    cover = coverage_text(int(user_mask.sum()), dataset.n_users, int(item_mask.sum()), dataset.n_items)
    if source == "raw":
        embed = folder_embed_config(folder)
        user, item = raw_text_embeddings(dataset, embed)
        caption = (f"alignment targets: the nodes' own text, no LLM (PROFILE_SOURCE raw: items' "
                   f"{'/'.join(_columns(dataset.item_text))}, users' {'/'.join(_columns(dataset.user_attrs))}, "
                   f"embedded by {embed.model}) for the nodes with LLM profiles: {cover}")
    else:
        gen_user, gen_item = (t.numpy() for t in target_embeddings(str(folder), dataset))
        user, item = shuffled_embeddings(gen_user, gen_item, user_mask, item_mask, seed)
        caption = (f"alignment targets: the LLM profile embeddings shuffled across nodes (PROFILE_SOURCE shuffled, "
                   f"a random cycle through the profiled users and one through the profiled items, seed {seed}): {cover}")
    return AlignmentTargets(torch.from_numpy(user), torch.from_numpy(item), torch.from_numpy(user_mask),
                            torch.from_numpy(item_mask), caption)


def _columns(frame) -> list[str]:
    return [] if frame is None else [str(c) for c in frame.columns]


def folder_embed_config(folder: str | Path):
    """The :class:`lmrec.llm.EmbedConfig` that made the profile embeddings in ``folder`` (its ``meta.json``, written by
    notebook 02): the ``raw`` control embeds the nodes' own text with the same embedder."""
    import json

    from ..llm import EmbedConfig

    meta = Path(folder) / "meta.json"
    key = json.loads(meta.read_text()).get("embed") if meta.exists() else None
    if not isinstance(key, dict):
        raise FileNotFoundError(f"{meta}: no record of the embedder ('embed'); PROFILE_SOURCE raw embeds the nodes' "
                                "own text with the embedder of notebook 02's product: run notebooks/02_embeddings")
    return EmbedConfig(**{k: v for k, v in key.items() if k in ("backend", "model", "normalize", "dimensions")})


def raw_text_embeddings(dataset, embed) -> tuple[np.ndarray, np.ndarray]:
    """``(user [n_users, d], item [n_items, d])`` float32: each node's own text (``dataset.user_texts()``,
    ``dataset.item_texts()``) embedded by ``embed``; no LLM involved."""
    from ..llm import embed_texts

    item = np.asarray(embed_texts(dataset.item_texts(), embed), dtype=np.float32)
    user = np.asarray(embed_texts(dataset.user_texts(), embed), dtype=np.float32)
    return user, item


def shuffled_embeddings(user: np.ndarray, item: np.ndarray, user_mask: np.ndarray, item_mask: np.ndarray,
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``user`` / ``item`` moved along a random cycle through the masked-in (profiled) ids
    (:func:`lmrec.llm.controls.cycle_permutation`, users seeded by ``seed``, items by ``seed + 1``); rows outside
    the masks stay where they are."""
    user_perm = cycle_permutation(len(user), np.flatnonzero(np.asarray(user_mask)), seed)
    item_perm = cycle_permutation(len(item), np.flatnonzero(np.asarray(item_mask)), seed + 1)
    return (np.ascontiguousarray(np.asarray(user, dtype=np.float32)[user_perm]),
            np.ascontiguousarray(np.asarray(item, dtype=np.float32)[item_perm]))


def coverage_text(users_ok: int, n_users: int, items_ok: int, n_items: int) -> str:
    """Caption text: how many nodes have a generated profile; the rest are out of the alignment losses."""
    text = (f"LLM profiles for {users_ok:,} of {n_users:,} users ({users_ok / max(1, n_users):.0%}) and "
            f"{items_ok:,} of {n_items:,} items ({items_ok / max(1, n_items):.0%})")
    if users_ok < n_users or items_ok < n_items:
        text += "; failed profiles are masked out of the alignment loss"
    return text


def user_mean_of_items(train: sp.spmatrix, item_emb: np.ndarray) -> np.ndarray:
    """Each user's mean of the embeddings of their training items (zeros for users without any)."""
    train = sp.csr_matrix(train, dtype=np.float32)
    deg = np.asarray(train.sum(1)).ravel()
    return np.asarray(train @ item_emb) / np.maximum(deg, 1.0)[:, None]


def target_embeddings(source: str, dataset, embed_model: str = "all-minilm-l6-v2",
                            **generated_kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """``(user [n_users, d], item [n_items, d])`` float32 profile embeddings for ``dataset`` (see module doc)."""
    if source == "generated":
        from .profiles import load_profile_embeddings

        out = load_profile_embeddings(dataset, **generated_kwargs)
        user, item = (out["user"], out["item"]) if isinstance(out, dict) else out
    elif source == "item_text":
        from ..llm import EmbedConfig, embed_texts

        item = embed_texts(dataset.item_texts(), EmbedConfig(model=embed_model))
        user = user_mean_of_items(dataset.train, item)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise FileNotFoundError(f"PROFILE_SOURCE={source!r} is neither 'generated', 'raw', 'shuffled', 'item_text' "
                                    f"nor a folder; a folder must hold RLMRec's usr_emb_np.pkl and itm_emb_np.pkl")
        from ..data.formats.rlmrec import read_rlmrec_embeddings

        emb = read_rlmrec_embeddings(folder, dataset.n_users, dataset.n_items)
        user, item = emb["user"], emb["item"]
    user, item = np.asarray(user, dtype=np.float32), np.asarray(item, dtype=np.float32)
    if user.shape[0] != dataset.n_users or item.shape[0] != dataset.n_items:
        raise ValueError(f"PROFILE_SOURCE={source!r}: embeddings for {user.shape[0]} users / {item.shape[0]} items, "
                         f"dataset {dataset.name} has {dataset.n_users} / {dataset.n_items}")
    return torch.from_numpy(user), torch.from_numpy(item)
