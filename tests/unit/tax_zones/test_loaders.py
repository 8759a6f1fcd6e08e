"""Loaders: formats, CRS, repair, Census records, world-atlas ids, topology."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import Polygon, box

from tax_zones.errors import BoundaryDataError
from tax_zones.loaders import (
    load_world_atlas,
    read_boundaries,
    repair_geometries,
)
from tax_zones.topology import equal_area_km2, topology_report
from tax_zones.types import CENSUS_500K_2016, Jurisdiction, Level

BOW_TIE = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])


def _frame(crs: str | None = "EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": ["a", "b"]},
        geometry=[box(-100, 40, -99, 41), box(-99, 40, -98, 41)],
        crs=crs,
    )


class TestReadBoundaries:
    @pytest.mark.parametrize(
        ("suffix", "driver"),
        [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".shp", "ESRI Shapefile")],
    )
    def test_formats_come_back_in_4326(
        self, tmp_path: Path, suffix: str, driver: str
    ) -> None:
        p = tmp_path / f"layer{suffix}"
        _frame().to_file(p, driver=driver)
        gdf = read_boundaries(p)
        assert gdf.crs.to_epsg() == 4326
        assert len(gdf) == 2

    def test_nad83_and_projected_sources_are_reprojected(self, tmp_path: Path) -> None:
        p = tmp_path / "albers.gpkg"
        _frame().to_crs("EPSG:5070").to_file(p)
        gdf = read_boundaries(p)
        assert gdf.crs.to_epsg() == 4326
        np.testing.assert_allclose(gdf.total_bounds, [-100, 40, -98, 41], atol=1e-6)

    def test_shapefile_without_prj_needs_assume_crs(self, tmp_path: Path) -> None:
        p = tmp_path / "noprj.shp"
        _frame().to_file(p)
        p.with_suffix(".prj").unlink()
        with pytest.raises(BoundaryDataError, match="assume_crs"):
            read_boundaries(p)
        assert read_boundaries(p, assume_crs="EPSG:4269").crs.to_epsg() == 4326

    def test_topojson_gets_wgs84(self, tmp_path: Path) -> None:
        p = tmp_path / "countries-50m.json"
        p.write_text(json.dumps(TOPO))
        gdf = read_boundaries(p, layer="countries")
        assert gdf.crs.to_epsg() == 4326
        assert len(gdf) == 2

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(BoundaryDataError, match="path"):
            read_boundaries(tmp_path / "nope.geojson")


class TestRepair:
    def test_bow_tie_is_repaired_and_reported(self) -> None:
        gdf = gpd.GeoDataFrame(
            {"id": ["x", "y"]}, geometry=[BOW_TIE, box(0, 0, 1, 1)], crs=4326
        )
        fixed, report = repair_geometries(gdf, "id")
        assert [r.feature_id for r in report.repaired] == ["x"]
        assert "Self-intersection" in report.repaired[0].reason
        assert fixed.geometry.is_valid.all()
        assert set(fixed.geometry.geom_type) == {"MultiPolygon"}


# two countries: the US (ISO numeric 840) and a feature without an id
TOPO = {
    "type": "Topology",
    "objects": {
        "countries": {
            "type": "GeometryCollection",
            "geometries": [
                {
                    "type": "Polygon",
                    "arcs": [[0]],
                    "id": "840",
                    "properties": {"name": "United States of America"},
                },
                {"type": "Polygon", "arcs": [[1]], "properties": {"name": "Kosovo"}},
            ],
        }
    },
    "arcs": [
        [[-100, 30], [-90, 30], [-90, 40], [-100, 40], [-100, 30]],
        [[20, 42], [21, 42], [21, 43], [20, 43], [20, 42]],
    ],
}


class TestWorldAtlas:
    def test_numeric_ids_become_alpha2_and_idless_features_are_skipped(
        self, tmp_path: Path
    ) -> None:
        p = tmp_path / "countries-50m.json"
        p.write_text(json.dumps(TOPO))
        records, skipped, _ = load_world_atlas(p)
        assert [(r.code, r.level) for r in records] == [("US", Level.COUNTRY)]
        assert skipped == ["Kosovo"]
        assert records[0].source.boundary_error_m == 5000.0


class TestCensus500k:
    def test_records(self, census_records: list[Jurisdiction]) -> None:
        states = [r for r in census_records if r.level is Level.STATE]
        counties = [r for r in census_records if r.level is Level.COUNTY]
        assert (len(states), len(counties)) == (56, 3233)
        assert all(len(s.code) == 2 and s.parent_code == "US" for s in states)
        assert all(len(c.code) == 5 and c.code[:2] == c.parent_code for c in counties)
        assert all(c.geometry.geom_type == "MultiPolygon" for c in counties)
        assert counties[0].source is CENSUS_500K_2016
        # NAD83 -> WGS84: the lower 48 sit where they should
        denver = next(c for c in counties if c.code == "08031")
        assert denver.geometry.contains(shapely.Point(-104.9903, 39.7392))

    def test_counties_nest_in_their_states(
        self, census_records: list[Jurisdiction]
    ) -> None:
        picked = {"08", "49", "10", "24"}
        states = [
            r for r in census_records if r.level is Level.STATE and r.code in picked
        ]
        counties = [
            r
            for r in census_records
            if r.level is Level.COUNTY and r.parent_code in picked
        ]
        report = topology_report(counties, states)
        assert report.is_partition
        assert report.overlap_km2 == 0.0
        co = equal_area_km2(
            np.array([s.geometry for s in states if s.code == "08"], dtype=object)
        )[0]
        assert co == pytest.approx(269_600, rel=0.01)  # Colorado, km2


def _j(code: str, geom: shapely.Geometry, parent: str | None = "p") -> Jurisdiction:
    level = Level.COUNTY if parent else Level.STATE
    return Jurisdiction(level, code, code, parent, geom, CENSUS_500K_2016)


class TestTopologyReport:
    def test_overlap_gap_and_overhang_in_km2_and_percent(self) -> None:
        parent = _j("p", box(0, 0, 2, 1), None)
        a = _j("a", box(0, 0, 1, 1))
        b = _j("b", box(0.9, 0, 1.8, 1.1))  # overlaps a, sticks out, leaves a gap
        r = topology_report([a, b], [parent])
        (ov,) = r.overlaps
        assert (ov.code_a, ov.code_b) == ("a", "b")
        cell = equal_area_km2(np.array([box(0, 0, 0.1, 1)], dtype=object))[0]
        assert ov.area_km2 == pytest.approx(cell, rel=1e-6)
        (nest,) = r.nesting
        assert nest.uncovered_pct == pytest.approx(10.0, rel=1e-3)
        assert nest.outside_parent_km2 > 0
        assert not r.is_partition
