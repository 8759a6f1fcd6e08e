"""Session fixtures: the real Census 1:500k 2016 data, loaded and indexed once."""

from __future__ import annotations

import pytest

from tax_zones.jurisdictions import JurisdictionResolver
from tax_zones.loaders import load_census_500k
from tax_zones.types import Jurisdiction


@pytest.fixture(scope="session")
def census_records() -> list[Jurisdiction]:
    records, _ = load_census_500k()
    return records


@pytest.fixture(scope="session")
def resolver(
    census_records: list[Jurisdiction],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> JurisdictionResolver:
    # the H3 tables are cached across runs (keyed by a hash of the geometries);
    # without pytest's cache plugin, in this session's tmp dir
    cache = getattr(request.config, "cache", None)
    cache_dir = (
        cache.mkdir("tax_zones_index")
        if cache is not None
        else tmp_path_factory.mktemp("tax_zones_index")
    )
    return JurisdictionResolver(census_records, cache_dir=cache_dir)
