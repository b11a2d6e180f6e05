"""RLMRec's released data (``data.zip``: amazon, yelp, steam splits, LLM profiles and profile embeddings).

RLMRec's README points to ``https://archive.org/download/rlmrec_data/data.zip``. The README gives no
checksum; archive.org publishes one per file in the item's ``rlmrec_data_files.xml`` (``<md5>``), which
:func:`download_rlmrec_data` fetches and checks before unpacking (or pass ``md5=`` / ``sha256=`` yourself).
Offline, point ``url`` (and ``files_xml_url``) at local copies (``file://`` URLs work).

Command line: ``python -m lmrec.rlmrec.data [DEST]`` (default ``outputs/data/rlmrec``); afterwards
``DATASET = "rlmrec:<DEST>/yelp"``, ``SPLIT = "given"``, ``PROFILE_SOURCE = "<DEST>/yelp"``.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from ..paths import outputs_root
from ..utils import atomic_path

DATA_URL = "https://archive.org/download/rlmrec_data/data.zip"
FILES_XML_URL = "https://archive.org/download/rlmrec_data/rlmrec_data_files.xml"
DATASETS = ("amazon", "yelp", "steam")
REQUIRED = ("trn_mat.pkl", "val_mat.pkl", "tst_mat.pkl")


class ChecksumError(RuntimeError):
    """A downloaded file does not match its published checksum."""


def default_root() -> Path:
    return outputs_root() / "data" / "rlmrec"


def archive_md5(files_xml: str, name: str = "data.zip") -> str:
    """The md5 archive.org lists for ``name`` in an item's ``*_files.xml``."""
    root = ET.fromstring(files_xml)
    for node in root.iter("file"):
        if node.get("name") == name:
            md5 = node.findtext("md5")
            if md5:
                return md5.strip().lower()
    raise ChecksumError(f"archive.org file list has no md5 for {name!r}")


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, dest: Path, timeout: float = 60.0) -> Path:
    with atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    return dest


def find_dataset_folder(root: Path, name: str) -> Path:
    """The folder under ``root`` holding ``name``'s RLMRec split files (the zip nests them under ``data/``)."""
    for cand in (root / name, root / "data" / name):
        if all((cand / f).exists() for f in REQUIRED):
            return cand
    raise FileNotFoundError(f"{root}: no RLMRec {name!r} folder with {', '.join(REQUIRED)}; download it with "
                            f"`python -m lmrec.rlmrec.data {root}` (needs archive.org) or unpack RLMRec's data.zip there")


def download_rlmrec_data(dest: str | Path | None = None, url: str = DATA_URL, md5: str | None = None,
                         sha256: str | None = None, files_xml_url: str | None = FILES_XML_URL,
                         timeout: float = 60.0) -> Path:
    """Download, verify and unpack RLMRec's data.zip into ``dest``; returns ``dest``. Skips the download
    when every dataset folder is already there. The checksum is ``sha256``/``md5`` if given, else the md5 from
    ``files_xml_url``; a mismatch deletes the download and raises :class:`ChecksumError`."""
    dest = Path(dest) if dest is not None else default_root()
    try:
        for name in DATASETS:
            find_dataset_folder(dest, name)
        return dest
    except FileNotFoundError:
        pass
    dest.mkdir(parents=True, exist_ok=True)
    if md5 is None and sha256 is None:
        if files_xml_url is None:
            raise ChecksumError("no checksum: pass md5=, sha256= or files_xml_url=")
        with urllib.request.urlopen(files_xml_url, timeout=timeout) as resp:
            md5 = archive_md5(resp.read().decode("utf-8"), Path(url).name)
    archive = _fetch(url, dest / "data.zip", timeout)
    algo, want = ("sha256", sha256) if sha256 else ("md5", md5)
    got = _digest(archive, algo)
    if got != want.lower():
        archive.unlink()
        raise ChecksumError(f"{url}: {algo} {got} does not match the published {want}; the download was removed")
    with zipfile.ZipFile(archive) as zf:
        for member in zf.namelist():
            target = (dest / member).resolve()
            if not str(target).startswith(str(dest.resolve())):
                raise ChecksumError(f"{archive}: member {member!r} would unpack outside {dest}")
        zf.extractall(dest)
    archive.unlink()
    for name in DATASETS:  # the zip nests the folders under data/; flatten to <dest>/<name>
        nested = dest / "data" / name
        if nested.is_dir() and not (dest / name).exists():
            nested.rename(dest / name)
    return dest


if __name__ == "__main__":  # pragma: no cover - thin CLI
    print(download_rlmrec_data(sys.argv[1] if len(sys.argv) > 1 else None))
