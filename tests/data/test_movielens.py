"""MovieLens-100K loader on local files: a fake GroupLens ml-100k.zip and a fake RecBole wheel built here
(same ratings in both), checksum errors, missing archive members, title/year/genre parsing."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pandas as pd
import pytest

from lmrec.data import DatasetFormatError, movielens
from lmrec.data.loaders import build_ml100k
from lmrec.data.movielens import GENRES, ML100K_MD5, RECBOLE_PREFIX, fetch_ml100k, read_raw_ml100k

RATINGS = [(1, 10, 5, 100), (1, 20, 3, 300), (1, 30, 4, 200), (2, 10, 2, 50), (2, 20, 4, 60), (2, 30, 1, 70),
           (2, 40, 5, 80), (3, 40, 3, 10), (3, 30, 5, 20), (3, 10, 4, 5)]
ITEMS = [(10, "Usual Suspects, The (1995)", "14-Aug-1995", ("Crime", "Thriller")),
         (20, "Toy Story (1995)", "01-Jan-1995", ("Animation", "Children's", "Comedy")),
         (30, "Big Night (1996)", "20-Sep-1996", ("Drama",)),
         (40, "Unknown Film", "", ("unknown",))]
USERS = [(1, 24, "M", "technician", "85711"), (2, 53, "F", "other", "94043"), (3, 23, "M", "writer", "05201")]


def grouplens_zip(drop: str | None = None) -> bytes:
    members = {
        "u.data": "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS),
        "u.item": "".join(f"{i}|{title}|{date}||http://x|" + "|".join("1" if g in gs else "0" for g in GENRES) + "\n"
                          for i, title, date, gs in ITEMS),
        "u.user": "".join("|".join(map(str, row)) + "\n" for row in USERS),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in members.items():
            if name != drop:
                zf.writestr(f"ml-100k/{name}", text.encode("latin-1"))
    return buf.getvalue()


def recbole_wheel(path) -> None:
    inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "".join(
        f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in RATINGS)
    item = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n" + "".join(
        f"{i}\t{title.rsplit(' (', 1)[0]}\t{date[-4:]}\t{' '.join(gs)}\n" for i, title, date, gs in ITEMS)
    user = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n" + "".join(
        "\t".join(map(str, row)) + "\n" for row in USERS)
    with zipfile.ZipFile(path, "w") as zf:
        for ext, text in (("inter", inter), ("item", item), ("user", user)):
            zf.writestr(f"{RECBOLE_PREFIX}ml-100k.{ext}", text)
        zf.writestr("recbole/__init__.py", "")


@pytest.fixture
def zip_url(tmp_path):
    path = tmp_path / "ml-100k.zip"
    path.write_bytes(grouplens_zip())
    return path.as_uri(), hashlib.md5(path.read_bytes()).hexdigest()


def test_grouplens_archive_is_parsed_into_text_and_attributes(tmp_path, zip_url):
    url, md5 = zip_url
    folder = fetch_ml100k(tmp_path / "raw", url=url, md5=md5, verbose=False)
    assert (folder / "SOURCE").read_text().strip() == url
    ds = build_ml100k("loo_time", seed=0, raw_folder=folder)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (3, 4, 10)
    text = ds.item_text.set_index(ds.item_ids)
    assert text.loc["10"].tolist() == ["The Usual Suspects", "1995", "Crime Thriller"]
    assert text.loc["20", "genres"] == "Animation Children's Comedy" and text.loc["40", "year"] == ""
    assert ds.user_attrs.iloc[2].tolist() == ["23", "M", "writer"]
    # leave-one-out by time: user 1's items by timestamp are 10 (100), 30 (200), 20 (300)
    seq = ds.sequences(("train", "valid", "test"))[0]
    assert ds.item_ids[seq].tolist() == ["10", "30", "20"]
    assert ds.interactions.query("user == 0")["split"].tolist() == ["train", "valid", "test"]


def test_a_second_fetch_reuses_the_cached_files(tmp_path, zip_url):
    url, md5 = zip_url
    folder = fetch_ml100k(tmp_path / "raw", url=url, md5=md5, verbose=False)
    assert fetch_ml100k(folder, url="file:///nonexistent.zip", verbose=False) == folder


def test_md5_mismatch_is_a_clear_error(tmp_path, zip_url, monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("no network in this test")

    monkeypatch.setattr(movielens, "_from_recbole_wheel", offline)
    url, md5 = zip_url
    with pytest.raises(RuntimeError) as err:
        fetch_ml100k(tmp_path / "raw", url=url, verbose=False)  # the published MD5 rejects the fake archive
    msg = str(err.value)
    assert f"MD5 {md5} != published {ML100K_MD5}" in msg and "corrupt or changed" in msg
    assert "Put ratings.tsv/items.tsv/users.tsv into" in msg
    assert not (tmp_path / "raw" / "ratings.tsv").exists()


def test_archive_missing_a_member_is_named():
    with pytest.raises(DatasetFormatError, match="member ml-100k/u.user is missing"):
        movielens.parse_grouplens_zip(grouplens_zip(drop="u.user"))


def test_recbole_wheel_path_gives_the_same_dataset_as_grouplens(tmp_path, zip_url):
    url, md5 = zip_url
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    recbole_wheel(wheel)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    from_wheel = fetch_ml100k(tmp_path / "wheel", offline_wheel=wheel, wheel_sha256=sha, verbose=False)
    assert "recbole==1.2.1" in (from_wheel / "SOURCE").read_text()
    from_zip = fetch_ml100k(tmp_path / "zip", url=url, md5=md5, verbose=False)
    a = build_ml100k("rlmrec", seed=3, raw_folder=from_wheel)
    b = build_ml100k("rlmrec", seed=3, raw_folder=from_zip)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.item_text, b.item_text)
    pd.testing.assert_frame_equal(a.user_attrs, b.user_attrs)


def test_fake_wheel_fails_the_real_checksum(tmp_path):
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    recbole_wheel(wheel)
    with pytest.raises(RuntimeError, match=r"SHA-256 [0-9a-f]{64} != expected 9c9948202011f37e"):
        fetch_ml100k(tmp_path / "raw", offline_wheel=wheel, verbose=False)


def test_raw_folder_with_a_missing_column(tmp_path, zip_url):
    url, md5 = zip_url
    folder = fetch_ml100k(tmp_path / "raw", url=url, md5=md5, verbose=False)
    pd.read_csv(folder / "users.tsv", sep="\t").drop(columns="gender").to_csv(folder / "users.tsv", sep="\t", index=False)
    with pytest.raises(DatasetFormatError, match=r"users.tsv: missing column\(s\) \['gender'\]"):
        read_raw_ml100k(folder)
