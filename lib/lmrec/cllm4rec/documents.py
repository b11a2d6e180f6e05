"""CLLM4Rec documents: soft+hard prompts and main texts built from interactions and text.

* collaborative: ``"user_i has interacted with"`` + the user's training items as item tokens, in a fresh
  random order each epoch (the paper's stochastic item reordering), at most ``max_items`` of them (0: the
  whole history, as the released code);
* content: ``(prompt, text)`` pairs; CLLM4Rec's own data has ``"user_i writes the following review for
  item_j:"`` + review. MovieLens-100K has no reviews, so :func:`movielens_content_documents` builds item
  documents from title/year/genres and user documents from age/gender/occupation (and from LLM profiles
  when they are given);
* recommendation (finetuning): the user's items with a random share removed, ``"user_i has interacted with
  <kept items>, user_i will interact with"``; the targets are the removed (held-out) items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .tokenizer import UserItemTokenizer, pad_right

COLLAB_PROMPT = "user_{u} has interacted with"
REC_PROMPT = "user_{u} has interacted with{items}, user_{u} will interact with"
REVIEW_PROMPT = "user_{u} writes the following review for item_{i}:"
ITEM_PROMPT = "item_{i} is described as:"
USER_PROMPT = "user_{u} is described as:"


def _first(items: np.ndarray, max_items: int) -> np.ndarray:
    """At most ``max_items`` leading items; ``max_items`` 0 keeps them all (the released code's whole history)."""
    return items[:max_items] if max_items else items


def collaborative_batch(tok: UserItemTokenizer, users: Sequence[int], items: Sequence[np.ndarray], max_items: int,
                        rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """Prompt ids ``[B, P]`` and main item indices ``[B, M]`` (shuffled, cut to ``max_items``; 0 keeps the
    whole history) with a mask."""
    prompts = [tok.encode(COLLAB_PROMPT.format(u=int(u))) for u in users]
    if len({len(p) for p in prompts}) != 1:
        raise ValueError("collaborative prompts must tokenize to one length (user tokens are atomic)")
    mains = [_first(rng.permutation(np.asarray(it, dtype=np.int64)), max_items).tolist() for it in items]
    main, mask = pad_right(mains, 0)
    return {"prompt_ids": torch.as_tensor(prompts, dtype=torch.long), "main_ids": main, "main_mask": mask}


def content_batch(tok: UserItemTokenizer, docs: Sequence[tuple[str, str]], max_tokens: int) -> dict[str, torch.Tensor]:
    """Prompt ids (all prompts of a batch must have one token length) and padded main-text ids."""
    prompts = [tok.encode(p) for p, _ in docs]
    if len({len(p) for p in prompts}) != 1:
        # Prompts of different templates in one batch: left-align by padding the main text instead is not
        # possible with a shared prompt length; the trainer groups documents by prompt length.
        raise ValueError("a content batch must hold prompts of one token length (group documents by template)")
    main, mask = pad_right([tok.encode(" " + t.strip())[:max_tokens] for _, t in docs], tok.pad_token_id)
    return {"prompt_ids": torch.as_tensor(prompts, dtype=torch.long), "main_ids": main, "main_mask": mask}


def rec_prompt(tok: UserItemTokenizer, user: int, items: Sequence[int]) -> list[int]:
    """Token ids of the recommendation prompt for ``user`` with ``items`` as its (kept) history."""
    listed = "".join(f" item_{int(i)}" for i in items)
    return tok.encode(REC_PROMPT.format(u=int(user), items=listed))


def masked_rec_batch(tok: UserItemTokenizer, users: Sequence[int], items: Sequence[np.ndarray], n_items: int,
                     max_items: int, mask_ratio: float, rng: np.random.Generator,
                     targets: str = "masked") -> dict[str, torch.Tensor]:
    """Finetuning batch: per user, hold out ``max(1, int(mask_ratio * n))`` random items; the prompt lists at
    most ``max_items`` of the rest (random order); targets are the held-out items (``targets="masked"``, the
    paper) or all of the user's training items (``"all"``, the original code). ``max_items`` 0 lists them all."""
    if targets not in ("masked", "all"):
        raise ValueError(f"REC_TARGETS={targets!r}; use 'masked' (paper) or 'all' (original code)")
    seqs, target = [], torch.zeros(len(users), n_items)
    for row, (u, it) in enumerate(zip(users, items)):
        it = rng.permutation(np.asarray(it, dtype=np.int64))
        n_out = max(1, int(len(it) * mask_ratio)) if len(it) > 1 else 0
        held, kept = it[:n_out], it[n_out:]
        seqs.append(rec_prompt(tok, u, _first(kept, max_items)))
        target[row, torch.as_tensor(held if targets == "masked" and n_out else it)] = 1.0
    ids, mask = pad_right(seqs, tok.pad_token_id)
    return {"ids": ids, "attention_mask": mask, "targets": target}


def eval_rec_batch(tok: UserItemTokenizer, users: Sequence[int], histories: Sequence[np.ndarray],
                   max_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic prompt for scoring: the user's last ``max_items`` training items in time order (0: all)."""
    seqs = [rec_prompt(tok, u, np.asarray(histories[u])[-max_items:] if max_items else np.asarray(histories[u]))
            for u in users]
    return pad_right(seqs, tok.pad_token_id)


def movielens_content_documents(item_text: pd.DataFrame | None, user_attrs: pd.DataFrame | None = None,
                                item_profiles: Mapping[int, str] | None = None,
                                user_profiles: Mapping[int, str] | None = None) -> list[tuple[str, str]]:
    """Content documents for a dataset without reviews: one per item (title, year, genres, or its LLM
    profile when given) and one per user (age, gender, occupation, or its LLM profile)."""
    docs: list[tuple[str, str]] = []
    if item_text is not None:
        for i, row in enumerate(item_text.itertuples(index=False)):
            rec = row._asdict()
            if item_profiles and i in item_profiles:
                text = item_profiles[i]
            else:
                title = str(rec.get("title", "")).strip()
                year = str(rec.get("year", "")).strip()
                genres = ", ".join(str(rec.get("genres", "")).replace("|", " ").split())
                text = title + (f" ({year})" if year and year != "nan" else "") + "."
                text += f" Genres: {genres}." if genres and genres != "nan" else ""
            docs.append((ITEM_PROMPT.format(i=i), text))
    if user_attrs is not None:
        for u, row in enumerate(user_attrs.itertuples(index=False)):
            rec = row._asdict()
            if user_profiles and u in user_profiles:
                text = user_profiles[u]
            else:
                gender = {"M": "man", "F": "woman"}.get(str(rec.get("gender", "")), "person")
                text = f"a {rec.get('age', '?')}-year-old {gender} working as {rec.get('occupation', 'unknown')}."
            docs.append((USER_PROMPT.format(u=u), text))
    elif user_profiles:
        docs.extend((USER_PROMPT.format(u=u), t) for u, t in user_profiles.items())
    return docs


def review_documents(reviews: pd.DataFrame) -> list[tuple[str, str]]:
    """CLLM4Rec's own ``review.pkl`` (read by :func:`lmrec.data.formats.read_cllm4rec_reviews`) as documents."""
    return list(zip(reviews["prompt"].astype(str), reviews["text"].astype(str)))


def group_by_prompt_length(tok: UserItemTokenizer, docs: Sequence[tuple[str, str]]) -> dict[int, list[int]]:
    """Document indices grouped by prompt token length (a content batch needs one length)."""
    groups: dict[int, list[int]] = {}
    for k, (p, _) in enumerate(docs):
        groups.setdefault(len(tok.encode(p)), []).append(k)
    return groups
