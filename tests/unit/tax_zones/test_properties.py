"""Property tests: the fast paths agree with brute-force shapely."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tax_zones import borders
from tax_zones.jurisdictions import JurisdictionResolver, Status

# a box over the Four Corners / Colorado Plateau, dense in state and county lines,
# plus the Delmarva coast (sea, bays, state lines) and Virginia's enclaves
REGIONS = [
    (35.5, 38.5, -111.0, -106.0),
    (37.8, 39.0, -76.2, -74.8),
    # Virginia: independent cities are enclaves (holes) inside counties
    (36.7, 38.9, -78.6, -76.2),
]


def _brute_force(
    resolver: JurisdictionResolver, lat: float, lng: float, radius_m: float
) -> set[str]:
    layer = resolver.layers[0]
    disc = borders.disc_polygon(
        lat, lng, radius_m + layer.error_m, resolver.params.disc_vertices
    )
    hit = shapely.intersects(layer.geoms, disc)
    return {layer.leaves[i].code for i in np.flatnonzero(hit)}


class TestCandidatesMatchBruteForce:
    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        region=st.sampled_from(REGIONS),
        u=st.floats(0, 1),
        v=st.floats(0, 1),
        radius_m=st.one_of(
            st.floats(0, 200), st.floats(200, 20_000), st.floats(50_000, 120_000)
        ),
    )
    def test_candidates_equal_disc_intersection(
        self,
        resolver: JurisdictionResolver,
        region: tuple[float, ...],
        u: float,
        v: float,
        radius_m: float,
    ) -> None:
        lat = region[0] + u * (region[1] - region[0])
        lng = region[2] + v * (region[3] - region[2])
        res = resolver.resolve_many(
            np.array([lat]), np.array([lng]), np.array([radius_m])
        )[0]
        expected = _brute_force(resolver, lat, lng, radius_m)
        got = {c.jurisdictions[-1].code for c in res.candidates}
        assert got == expected
        if expected:
            assert res.status is Status.RESOLVED
            assert sum(c.share for c in res.candidates) == pytest.approx(1.0)
            assert res.ambiguous == (len(expected) > 1)
        else:
            assert res.status is Status.NO_JURISDICTION


class TestIndexMatchesStrtree:
    def test_random_us_points_equal_brute_force(
        self, resolver: JurisdictionResolver
    ) -> None:
        layer = resolver.layers[0]
        rng = np.random.default_rng(7)
        n = 20_000
        lat = rng.uniform(18.0, 50.0, n)
        lng = rng.uniform(-125.0, -65.0, n)
        p, g = layer.index.query(lat, lng)
        tree = shapely.STRtree(layer.geoms)
        bp, bg = tree.query(shapely.points(lng, lat), predicate="intersects")
        order = np.lexsort((bg, bp))
        np.testing.assert_array_equal(p, bp[order])
        np.testing.assert_array_equal(g, bg[order])

    def test_points_on_shared_vertices_map_to_both_sides(
        self, resolver: JurisdictionResolver
    ) -> None:
        layer = resolver.layers[0]
        seg = layer.internal[:2000:50]
        lat, lng = seg[:, 0, 1], seg[:, 0, 0]
        p, g = layer.index.query(lat, lng)
        assert (np.bincount(p, minlength=len(lat)) >= 2).all()
        bp, bg = shapely.STRtree(layer.geoms).query(
            shapely.points(lng, lat), predicate="intersects"
        )
        order = np.lexsort((bg, bp))
        np.testing.assert_array_equal(g, bg[order])


class TestBorderDistance:
    def test_metric_distance_matches_brute_force_minimum(
        self, resolver: JurisdictionResolver
    ) -> None:
        layer = resolver.layers[0]
        rng = np.random.default_rng(3)
        lat = rng.uniform(36.0, 40.0, 200)
        lng = rng.uniform(-100.0, -90.0, 200)
        got = borders.nearest_segment_m(
            layer.internal_tree, layer.internal, lat, lng, 1e9
        )
        for k in range(0, 200, 20):
            d = borders.point_segment_m(
                np.full(len(layer.internal), lat[k]),
                np.full(len(layer.internal), lng[k]),
                layer.internal,
            )
            assert got[k] == pytest.approx(d.min(), rel=1e-9)


class TestDiscWiderThanBorderSearch:
    def test_candidates_still_match_brute_force(
        self, census_records: list, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        from tax_zones.index import IndexParams
        from tax_zones.jurisdictions import ResolverParams
        from tax_zones.types import Level

        recs = [
            r
            for r in census_records
            if r.level is Level.COUNTRY or r.code[:2] in {"08", "49"}
        ]
        small = JurisdictionResolver(
            recs, ResolverParams(index=IndexParams(res=5), border_search_m=1_000.0)
        )
        rng = np.random.default_rng(9)
        lat = rng.uniform(37.5, 40.5, 40)
        lng = rng.uniform(-111.5, -103.0, 40)
        radius = rng.uniform(2_000, 30_000, 40)
        out = small.resolve_many(lat, lng, radius)
        for k, res in enumerate(out):
            got = {c.jurisdictions[-1].code for c in res.candidates}
            assert got == _brute_force(small, lat[k], lng[k], radius[k])


class TestSharesAndMetres:
    def test_disc_centred_on_a_straight_state_line_splits_in_half(
        self, resolver: JurisdictionResolver, census_records: list
    ) -> None:
        states = {r.code: r.geometry for r in census_records if r.code in {"08", "20"}}
        line = shapely.intersection(states["08"].boundary, states["20"].boundary)
        mid = shapely.line_interpolate_point(
            shapely.line_merge(line), 0.5, normalized=True
        )
        res = resolver.resolve_many(
            np.array([mid.y]), np.array([mid.x]), np.array([300.0])
        )[0]
        assert res.ambiguous
        assert sorted(c.jurisdictions[1].code for c in res.candidates) == ["08", "20"]
        for c in res.candidates:
            assert c.share == pytest.approx(0.5, abs=0.02)
        assert res.border_distance_m == pytest.approx(0.0, abs=1.0)

    def test_segment_distance_agrees_with_the_geodesic(self) -> None:
        from pyproj import Geod

        # a meridian segment (like the Colorado-Utah line) and a point 10 km east
        seg = np.array([[[-109.05, 37.0], [-109.05, 41.0]]])
        lat0, lng0 = 39.0, -109.05
        _, _, d_geo = Geod(ellps="WGS84").inv(lng0, lat0, lng0 + 0.1157, lat0)
        got = borders.point_segment_m(np.array([lat0]), np.array([lng0 + 0.1157]), seg)[
            0
        ]
        assert got == pytest.approx(d_geo, rel=0.005)


class TestAntimeridian:
    def test_disc_across_180_stays_local(self, resolver: JurisdictionResolver) -> None:
        disc = borders.disc_polygon(51.8, 179.99, 5_000.0)
        assert disc.geom_type == "MultiPolygon"
        w, _, e, _ = disc.bounds
        assert (w, e) == (-180.0, 180.0)
        assert borders.geodesic_area_m2(disc) == pytest.approx(
            borders.geodesic_area_m2(borders.disc_polygon(51.8, 0.0, 5_000.0)),
            rel=1e-6,
        )
        # Aleutians West (02016) straddles 180 degrees: a 50 km disc at 179.99 E
        # reaches its islands, not the rest of the world
        res = resolver.resolve_many(
            np.array([51.8]), np.array([179.99]), np.array([50_000.0])
        )[0]
        assert [c.jurisdictions[-1].code for c in res.candidates] == ["02016"]
        assert 0.5 < res.outside_share < 1.0


def test_point_beside_a_long_border_along_a_parallel(
    resolver: JurisdictionResolver,
) -> None:
    """Found by hypothesis: 1.4 m north of the Mesa/Montrose county line, which
    runs 18 km along 38.5 N in one segment. In metres the segment's chord lies
    closer than its lon/lat line, and the border search used to miss it."""
    lat, lng = 38.5, -111.0 + 0.521484375 * 5.0
    res = resolver.resolve_many(np.array([lat]), np.array([lng]), np.array([0.0]))[0]
    got = {c.jurisdictions[-1].code for c in res.candidates}
    assert got == _brute_force(resolver, lat, lng, 0.0) == {"08077", "08085"}
    assert res.ambiguous
