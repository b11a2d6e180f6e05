"""RLMRec profiling (Ren et al., WWW'24, arXiv 2310.15950, Sec. 3.2): item profiles, then user profiles.

Item profiles come from the item's own text; user profiles from the user's TRAINING interactions only,
each item described by its title and its generated item profile (and rating/review where the dataset has
one). Both ask for ``{"summarization": ..., "reasoning": ...}``. Outputs use RLMRec's own file format:
``itm_prf.pkl`` / ``usr_prf.pkl`` = ``{id: {"profile": summarization, "reasoning": reasoning}}``;
``itm_emb_np.pkl`` / ``usr_emb_np.pkl`` = float32 arrays whose row ``i`` belongs to id ``i``.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from ..data.dataset import InteractionDataset
from ..llm.cache import KVCache
from ..llm.chat import ChatBackend, ChatRequest, GenParams, StageStats
from ..llm.constrain import fit_caps, string_fields_schema
from ..llm.embed import EmbedConfig, embed_texts
from ..llm.structured import generate_json
from ..paths import pointer_path, read_pointer, stage_dir, take_over, write_pointer
from ..utils import atomic_path, stable_hash, write_json
from .prompts import FAMILIES, load_template

REQUIRED = ("summarization", "reasoning")
FALLBACK_REASONING = "fallback: no generated profile (failed or not requested)"  # marks a stand-in in the .pkl
PREFILL = '{"summarization": "'
# family -> (item fields asked for, item-list label in the user prompt, per-item feedback field)
FAMILY_SPEC = {
    "movielens": (("title", "year", "genres"), "WATCHED MOVIES", "rating"),
    "amazon-book": (("title", "description"), "PURCHASED ITEMS", "review"),
    "yelp": (("name", "city", "categories"), "PURCHASED BUSINESSES", "review"),
    "steam": (("name", "publisher", "genres", "tags"), "PLAYED GAMES", "review"),
}
# RLMRec's instruction files: item summarization/reasoning <= 200 words; user summarization <= 100 words.
RLMREC_LIMITS = {"item_summary_words": 200, "item_reasoning_words": 200, "user_summary_words": 100,
                 "user_reasoning_words": 0}


@dataclass
class ProfileConfig:
    """How profiles are asked for. Word limits go into the templates; 0 = no limit stated."""

    family: str = "movielens"
    item_summary_words: int = 60
    item_reasoning_words: int = 30
    user_summary_words: int = 50
    user_reasoning_words: int = 25
    max_user_items: int = 10          # most recent training interactions per user prompt (0 = all)
    desc_words: int = 20              # item profile words per item in a user prompt (0 = all)
    prefill: bool = True              # start the assistant turn with '{"summarization": "'
    max_new_tokens: int = 200
    max_repairs: int = 3
    fallback: str = "raw_text"        # what a failed profile holds in the .pkl: raw_text | none
    n_items: int = 0                  # profile only the n items / users with the most training interactions
    n_users: int = 0                  # (0 = all); the others keep their raw text and stay out of the alignment
    constrain: bool = True            # decode under the answer's JSON schema where the backend can (lmrec.llm.constrain)
    chars_per_word: int = 7           # a field's length cap in the schema: its word limit x this (0 limit: no cap)
    min_chars: int = 16               # a field's minimum length in the schema (keeps "None" and bare titles out)

    def __post_init__(self) -> None:
        if self.family not in FAMILY_SPEC:
            raise ValueError(f"ProfileConfig.family={self.family!r}: use one of {FAMILIES}")
        if self.fallback not in ("raw_text", "none"):
            raise ValueError(f"ProfileConfig.fallback={self.fallback!r}: use 'raw_text' or 'none'")


def dataset_key(ds: InteractionDataset) -> str:
    """Identifies the dataset and its split (name, protocol, sizes, a digest of the train interactions)."""
    train = ds.interactions[ds.interactions["split"] == "train"]
    digest = stable_hash([train["user"].tolist(), train["item"].tolist()], 12)
    return f"{ds.name.replace(':', '_').replace('/', '_')}-{ds.split_protocol}-{ds.n_users}u{ds.n_items}i-{digest}"


def _system(kind: str, cfg: ProfileConfig) -> str:
    summ = getattr(cfg, f"{kind}_summary_words")
    reas = getattr(cfg, f"{kind}_reasoning_words")
    text = Template(load_template(f"{cfg.family}_{kind}")).substitute(
        summary_words=summ or "any number of", reasoning_words=reas or "any number of")
    return text


def _none(v: Any) -> str:
    s = "" if v is None else str(v).strip()
    return s if s and s.lower() != "nan" else "None"


def item_fields(ds: InteractionDataset, item: int, family: str) -> dict[str, str]:
    """The item's basic information under the family's field names ("None" where the dataset lacks it)."""
    fields = FAMILY_SPEC[family][0]
    row = ds.item_text.iloc[item] if ds.item_text is not None else None
    out = {}
    for f in fields:
        v = None
        if row is not None:
            for col in (f, "title" if f == "name" else f, "name" if f == "title" else f):
                if col in row.index:
                    v = row[col]
                    break
        out[f] = _none(v)
    if all(v == "None" for v in out.values()):
        out[fields[0]] = f"item {ds.item_ids[item]}"
    return out


def item_title(ds: InteractionDataset, item: int) -> str:
    if ds.item_text is not None:
        for col in ("title", "name"):
            if col in ds.item_text.columns:
                return _none(ds.item_text.iloc[item][col])
    return f"item {ds.item_ids[item]}"


def item_requests(ds: InteractionDataset, items: list[int], cfg: ProfileConfig) -> list[ChatRequest]:
    """One chat request per item: system instruction + the item's basic information as JSON."""
    system = _system("item", cfg)
    reqs = []
    for i in items:
        info = json.dumps(item_fields(ds, i, cfg.family), ensure_ascii=False)
        user = info if cfg.family in ("movielens", "amazon-book") else f"BASIC INFORMATION: {info}\nUSER FEEDBACK: []"
        reqs.append(ChatRequest([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                prefill=PREFILL if cfg.prefill else "", id=f"item:{i}"))
    return reqs


def training_history(ds: InteractionDataset, user: int, max_items: int = 0) -> list[tuple[int, float]]:
    """``(item, rating)`` of the user's TRAINING interactions, in time order; the last ``max_items`` if set."""
    rows = ds.interactions[(ds.interactions["user"] == user) & (ds.interactions["split"] == "train")]
    pairs = list(zip(rows["item"].astype(int).tolist(), rows["rating"].astype(float).tolist()))
    return pairs[-max_items:] if max_items else pairs


def _clip_words(text: str, n: int) -> str:
    words = text.split()
    return text if not n or len(words) <= n else " ".join(words[:n]) + " ..."


def user_requests(ds: InteractionDataset, users: list[int], item_profiles: dict[int, dict[str, str]],
                  cfg: ProfileConfig) -> list[ChatRequest]:
    """One request per user, listing the user's training items with their item profiles (item -> user)."""
    system = _system("user", cfg)
    _, label, feedback = FAMILY_SPEC[cfg.family]
    train = ds.interactions[ds.interactions["split"] == "train"]
    by_user = {int(u): g for u, g in train.groupby("user", sort=False)}
    reqs = []
    for u in users:
        g = by_user.get(u)
        pairs = [] if g is None else list(zip(g["item"].astype(int), g["rating"].astype(float)))
        if cfg.max_user_items:
            pairs = pairs[-cfg.max_user_items:]
        lines = []
        for item, rating in pairs:
            prof = item_profiles.get(item)
            desc = _clip_words(prof["profile"], cfg.desc_words) if prof else "None"
            fb = (f"{rating:g}/5" if feedback == "rating" and np.isfinite(rating) else "None")
            lines.append(json.dumps({"title": item_title(ds, item), "description": desc, feedback: fb},
                                    ensure_ascii=False))
        user = f"{label}:\n[\n" + "\n".join(lines) + "\n]"
        reqs.append(ChatRequest([{"role": "system", "content": system}, {"role": "user", "content": user}],
                                prefill=PREFILL if cfg.prefill else "", id=f"user:{u}"))
    return reqs


@dataclass
class ProfileBatch:
    """The profiles of one stage, their failures and accounting."""

    profiles: dict[int, dict[str, str]]      # id -> {"profile", "reasoning"} (successes only)
    failures: list[dict[str, Any]]
    stats: StageStats
    repaired: int = 0
    requests: list[ChatRequest] = field(default_factory=list)


def answer_schema(kind: str, cfg: ProfileConfig) -> dict[str, Any]:
    """The JSON schema of a ``kind`` (item | user) profile answer: both fields, capped at the prompt's word limits
    (``chars_per_word`` characters a word; no limit: 100 words), scaled down where needed so the object ends within
    ``max_new_tokens`` (:func:`lmrec.llm.constrain.fit_caps`)."""
    words = [getattr(cfg, f"{kind}_summary_words") or 100, getattr(cfg, f"{kind}_reasoning_words") or 100]
    caps = fit_caps(REQUIRED, [w * cfg.chars_per_word for w in words], cfg.max_new_tokens)
    return string_fields_schema(REQUIRED, caps, cfg.min_chars)


def _profile(backend: ChatBackend, reqs: list[ChatRequest], ids: list[int], cfg: ProfileConfig,
             cache: KVCache | None, progress: bool, desc: str, kind: str) -> ProfileBatch:
    gen = GenParams(max_new_tokens=cfg.max_new_tokens, json_mode=True,
                    json_schema=answer_schema(kind, cfg) if cfg.constrain else None)
    res = generate_json(backend, reqs, REQUIRED, gen, cache=cache, max_repairs=cfg.max_repairs,
                        progress=progress, desc=desc)
    profiles = {i: {"profile": v["summarization"], "reasoning": v["reasoning"]}
                for i, v in zip(ids, res.values) if v is not None}
    return ProfileBatch(profiles, res.failures, res.stats, res.repaired, reqs)


def most_interacted(ds: InteractionDataset, axis: str, n: int) -> list[int]:
    """The ``n`` users (``axis='user'``) or items with the most training interactions, ties by id, in id order
    (all of them when ``n`` is 0): a budget-sized subset spends the LLM calls where the graph has most signal."""
    degree = np.asarray(ds.train.sum(axis=1 if axis == "user" else 0)).ravel()
    if not n or n >= degree.size:
        return list(range(degree.size))
    return sorted(np.argsort(-degree, kind="stable")[:n].tolist())


def profile_items(backend: ChatBackend, ds: InteractionDataset, cfg: ProfileConfig,
                  cache: KVCache | None = None, progress: bool = True) -> ProfileBatch:
    items = most_interacted(ds, "item", cfg.n_items)
    return _profile(backend, item_requests(ds, items, cfg), items, cfg, cache, progress, "item profiles", "item")


def profile_users(backend: ChatBackend, ds: InteractionDataset, item_profiles: dict[int, dict[str, str]],
                  cfg: ProfileConfig, cache: KVCache | None = None, progress: bool = True) -> ProfileBatch:
    users = most_interacted(ds, "user", cfg.n_users)
    return _profile(backend, user_requests(ds, users, item_profiles, cfg), users, cfg, cache, progress,
                    "user profiles", "user")


def fallback_profiles(ds: InteractionDataset, run: ProfileBatch, kind: str, n: int,
                      cfg: ProfileConfig) -> dict[int, dict[str, str]]:
    """All ``n`` ids: generated profiles, and for failures the raw text (``fallback='raw_text'``)."""
    out = dict(run.profiles)
    if cfg.fallback == "raw_text":
        for i in range(n):
            if i not in out:
                if kind == "item":
                    text = ", ".join(f"{k}: {v}" for k, v in item_fields(ds, i, cfg.family).items())
                else:
                    text = "; ".join(item_title(ds, it) for it, _ in training_history(ds, i, cfg.max_user_items))
                out[i] = {"profile": text or "None", "reasoning": FALLBACK_REASONING}
    return dict(sorted(out.items()))


# ----------------------------------------------------------------------------------- files + loading
def profiles_folder(ds: InteractionDataset, llm_identity: dict[str, Any], cfg: ProfileConfig) -> Path:
    """The profiles of one dataset split, LLM and profile configuration: ``outputs/cache/rlmrec/profiles-<hash>``
    (:func:`lmrec.paths.stage_dir`; the key holds the dataset key, the LLM's identity and every profile setting)."""
    return stage_dir("rlmrec", "profiles", {"data": dataset_key(ds), "llm": llm_identity, "profile": asdict(cfg)})


def profiles_pointer(ds_key: str) -> Path:
    """The pointer notebook 01 moves to its profiles of a dataset key, once they are complete."""
    return pointer_path("rlmrec", "profiles", ds_key)


def embeddings_pointer(ds_key: str) -> Path:
    """The pointer notebook 02 moves to its profile embeddings of a dataset key, once they are complete."""
    return pointer_path("rlmrec", "embeddings", ds_key)


def current_profiles(ds: InteractionDataset) -> Path:
    """The profiles folder notebook 01 last completed for this dataset (same name/split/min_rating/seed)."""
    return take_over("auto", profiles_pointer(dataset_key(ds)),
                     f"no profiles for {ds.name} ({ds.split_protocol}) yet; run notebooks/01_profiles.ipynb with "
                     "the same DATASET/SPLIT/MIN_RATING/SEED first, or give a folder holding itm_prf.pkl and "
                     "usr_prf.pkl").product


def _dump(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh)


def write_profiles(folder: Path, items: dict[int, dict[str, str]], users: dict[int, dict[str, str]],
                   failures: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """Write ``itm_prf.pkl``, ``usr_prf.pkl``, ``failures.jsonl``, ``meta.json`` atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    _dump(items, folder / "itm_prf.pkl")
    _dump(users, folder / "usr_prf.pkl")
    with atomic_path(folder / "failures.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
    write_json(folder / "meta.json", meta)


def read_profiles(folder: str | Path) -> tuple[dict[int, dict[str, str]], dict[int, dict[str, str]]]:
    """``(item_profiles, user_profiles)`` from an RLMRec-format folder."""
    folder = Path(folder)
    missing = "run notebooks/01_profiles.ipynb or point at RLMRec's data folder"
    return _read_pickle(folder / "itm_prf.pkl", missing), _read_pickle(folder / "usr_prf.pkl", missing)


def _read_pickle(path: Path, missing: str) -> Any:
    """The object pickled at ``path``; ``FileNotFoundError`` naming the file and ``missing`` (the fix)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; {missing}")
    with open(path, "rb") as fh:
        return pickle.load(fh)


def generated_mask(profiles: dict[int, dict[str, str]], n: int) -> np.ndarray:
    """Bool ``[n]``: ``True`` where id ``i`` holds a generated profile (not missing, not a fallback stand-in)."""
    out = np.zeros(n, dtype=bool)
    for i, prof in profiles.items():
        if 0 <= int(i) < n and prof.get("reasoning") != FALLBACK_REASONING:
            out[int(i)] = True
    return out


def profile_masks(folder: str | Path, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """``(user_mask, item_mask)`` of the generated profiles in an RLMRec-format folder (``usr_prf.pkl``,
    ``itm_prf.pkl``); all ``True`` when the folder has no profile files (embeddings only)."""
    folder = Path(folder)
    if not (folder / "usr_prf.pkl").exists() or not (folder / "itm_prf.pkl").exists():
        return np.ones(n_users, dtype=bool), np.ones(n_items, dtype=bool)
    items, users = read_profiles(folder)
    return generated_mask(users, n_users), generated_mask(items, n_items)


def _profile_texts(profiles: dict[int, dict[str, str]], n: int, name: str) -> list[str]:
    missing = [i for i in range(n) if i not in profiles]
    if missing:
        raise ValueError(f"{name}: no profile for ids {missing[:10]} (of {n}); regenerate with fallback='raw_text'")
    return [profiles[i]["profile"] for i in range(n)]


def embed_profiles(prf_folder: str | Path, embed: EmbedConfig, dataset: InteractionDataset,
                   progress: bool = True, stats: dict[str, int] | None = None) -> Path:
    """Embed the ``profile`` texts (RLMRec embeds the summarization) of ``prf_folder`` for ``dataset``.

    Writes ``outputs/cache/rlmrec/embeddings-<hash>/`` (:func:`lmrec.paths.stage_dir`, keyed by the dataset,
    the profiles folder and the embedder) with all four RLMRec files (profiles copied): what
    :func:`load_profile_embeddings` reads. Then points the dataset's current embeddings at it. Returns the folder.
    """
    prf_folder = Path(prf_folder).resolve()
    ds_key = dataset_key(dataset)
    items, users = read_profiles(prf_folder)
    folder = stage_dir("rlmrec", "embeddings", {"data": ds_key, "profiles": str(prf_folder), "embed": embed.key()})
    folder.mkdir(parents=True, exist_ok=True)
    itm = embed_texts(_profile_texts(items, dataset.n_items, "itm_prf.pkl"), embed, progress=progress, stats=stats)
    usr = embed_texts(_profile_texts(users, dataset.n_users, "usr_prf.pkl"), embed, progress=progress, stats=stats)
    _dump(itm.astype(np.float32), folder / "itm_emb_np.pkl")
    _dump(usr.astype(np.float32), folder / "usr_emb_np.pkl")
    _dump(items, folder / "itm_prf.pkl")
    _dump(users, folder / "usr_prf.pkl")
    write_json(folder / "meta.json", {"embed": embed.key(), "profiles": str(prf_folder), "dataset_key": ds_key,
                                      "n_users": dataset.n_users, "n_items": dataset.n_items, "dim": int(itm.shape[1])})
    write_pointer(embeddings_pointer(ds_key), folder)
    return folder


def rlmrec_data_folder(ds_key: str) -> Path:
    """The embedding folder last written by notebook 02 for this dataset key (see :func:`dataset_key`)."""
    return read_pointer(embeddings_pointer(ds_key),
                        f"no profile embeddings for dataset key {ds_key!r}; run notebooks/01_profiles.ipynb and "
                        "notebooks/02_embeddings.ipynb with the same DATASET/SPLIT/MIN_RATING/SEED, or pass folder= "
                        "(e.g. a folder of RLMRec's data.zip holding usr_emb_np.pkl and itm_emb_np.pkl)")


def load_profile_embeddings(dataset: InteractionDataset | None = None, folder: str | Path | None = None
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``(user_emb [n_users, d], item_emb [n_items, d])`` float32, rows aligned to the dataset's ids.

    Give ``dataset`` (the loaded :class:`InteractionDataset`; its key picks the embeddings notebook 02 wrote)
    or ``folder`` (any folder with ``usr_emb_np.pkl`` / ``itm_emb_np.pkl``, e.g. RLMRec's data.zip). With
    both, the shapes are checked against the dataset.
    """
    if folder is None:
        if dataset is None:
            raise ValueError("load_profile_embeddings: pass dataset= or folder=")
        folder = rlmrec_data_folder(dataset_key(dataset))
    folder = Path(folder)
    arrays = []
    for name in ("usr_emb_np.pkl", "itm_emb_np.pkl"):
        path = folder / name
        arr = np.asarray(_read_pickle(path, f"expected RLMRec's profile embedding files in {folder}"), dtype=np.float32)
        if arr.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D array (ids x dim), got shape {arr.shape}")
        arrays.append(arr)
    usr, itm = arrays
    if dataset is not None and (usr.shape[0] != dataset.n_users or itm.shape[0] != dataset.n_items):
        raise ValueError(f"{folder}: embeddings have {usr.shape[0]} users x {itm.shape[0]} items, the dataset "
                         f"{dataset.name} has {dataset.n_users} x {dataset.n_items}; regenerate them for it")
    return usr, itm
