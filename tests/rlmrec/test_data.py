"""RLMRec data.zip download: checksum from archive.org's file list, verification, unpacking (local files)."""

import hashlib
import pickle
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from lmrec.rlmrec.data import ChecksumError, archive_md5, download_rlmrec_data, find_dataset_folder

FILES_XML = """<?xml version="1.0" encoding="UTF-8"?>
<files>
  <file name="data.zip" source="original"><mtime>1</mtime><size>10</size><md5>{md5}</md5><sha1>x</sha1></file>
  <file name="rlmrec_data_meta.xml" source="metadata"><md5>ffff</md5></file>
</files>"""


def _zip(tmp_path):
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("amazon", "yelp", "steam"):
            for f in ("trn_mat.pkl", "val_mat.pkl", "tst_mat.pkl"):
                zf.writestr(f"data/{name}/{f}", pickle.dumps(sp.coo_matrix(np.eye(3))))
            zf.writestr(f"data/{name}/usr_emb_np.pkl", pickle.dumps(np.ones((3, 4), dtype=np.float32)))
    return path


def test_archive_md5_reads_the_named_file():
    assert archive_md5(FILES_XML.format(md5="ABC123")) == "abc123"
    with pytest.raises(ChecksumError):
        archive_md5(FILES_XML.format(md5="x"), "other.zip")


def test_download_verifies_md5_from_file_list_and_unpacks(tmp_path):
    archive = _zip(tmp_path)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    xml = tmp_path / "files.xml"
    xml.write_text(FILES_XML.format(md5=md5))
    dest = download_rlmrec_data(tmp_path / "out", url=archive.as_uri(), files_xml_url=xml.as_uri())
    folder = find_dataset_folder(dest, "yelp")
    assert folder == dest / "yelp"  # flattened: DATASET = "rlmrec:<dest>/yelp"
    assert (folder / "usr_emb_np.pkl").exists() and not (dest / "data.zip").exists()
    # second call: already there, no download (a bad URL is never touched)
    assert download_rlmrec_data(dest, url="file:///nonexistent/data.zip", md5="0") == dest


def test_checksum_mismatch_is_an_error_and_removes_the_file(tmp_path):
    archive = _zip(tmp_path)
    with pytest.raises(ChecksumError, match="does not match"):
        download_rlmrec_data(tmp_path / "out", url=archive.as_uri(), sha256="0" * 64)
    assert not (tmp_path / "out" / "data.zip").exists()


def test_missing_folder_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m lmrec.rlmrec.data"):
        find_dataset_folder(tmp_path, "yelp")
