"""Real places against expected state and county FIPS (Census 500k 2016)."""

from __future__ import annotations

import pytest
from pyproj import Geod

from tax_zones.errors import AmbiguousJurisdictionError
from tax_zones.jurisdictions import JurisdictionResolver, Policy, Quality, Status
from tax_zones.types import LatLng

PLACES = [
    # name, lat, lng, state FIPS, county GEOID
    ("St. Louis city (independent)", 38.6270, -90.1994, "29", "29510"),
    ("Baltimore city (independent)", 39.2904, -76.6122, "24", "24510"),
    ("Denver (consolidated)", 39.7392, -104.9903, "08", "08031"),
    ("Texarkana TX", 33.4251, -94.0477, "48", "48037"),
    ("Texarkana AR", 33.4418, -94.0377, "05", "05091"),
    ("Kansas City MO", 39.0997, -94.5786, "29", "29095"),
    ("Kansas City KS", 39.1141, -94.6275, "20", "20209"),
    ("Bristol TN", 36.5860, -82.1920, "47", "47163"),
    ("Bristol VA (independent)", 36.6090, -82.1760, "51", "51520"),
    ("Delmar DE", 38.4590, -75.5740, "10", "10005"),
    ("Delmar MD", 38.4500, -75.5740, "24", "24045"),
    ("Stateline NV", 38.9619, -119.9397, "32", "32005"),
    ("South Lake Tahoe CA", 38.9399, -119.9772, "06", "06017"),
    ("Fairfax city VA (enclave in Fairfax County)", 38.8530, -77.2990, "51", "51600"),
    ("Charlottesville VA (enclave in Albemarle)", 38.0293, -78.4767, "51", "51540"),
    ("Albemarle County VA (around the enclave)", 38.0800, -78.4767, "51", "51003"),
    ("Honolulu HI", 21.3069, -157.8583, "15", "15003"),
    ("Anchorage AK", 61.2181, -149.9003, "02", "02020"),
    ("San Juan PR", 18.4655, -66.1057, "72", "72127"),
]
PAIRS = [
    ("Texarkana TX", "Texarkana AR"),
    ("Kansas City MO", "Kansas City KS"),
    ("Bristol TN", "Bristol VA (independent)"),
    ("Delmar DE", "Delmar MD"),
    ("Stateline NV", "South Lake Tahoe CA"),
]
BY_NAME = {p[0]: p for p in PLACES}
GEOD = Geod(ellps="WGS84")


class TestResolvePlaces:
    @pytest.mark.parametrize(("name", "lat", "lng", "state", "county"), PLACES)
    def test_precise_point_gives_state_and_county(
        self,
        resolver: JurisdictionResolver,
        name: str,
        lat: float,
        lng: float,
        state: str,
        county: str,
    ) -> None:
        res = resolver.resolve(LatLng(lat, lng), 10.0)
        assert res.status is Status.RESOLVED, name
        assert [j.code for j in res.jurisdictions] == ["US", state, county]
        assert [j.level for j in res.jurisdictions] == ["country", "state", "county"]
        assert not res.ambiguous
        assert res.quality is Quality.ROOFTOP
        if name == "Honolulu HI":  # Oahu shares no land border within 50 km
            assert res.border_distance_m is None
        else:
            assert res.border_distance_m is not None
            assert res.border_distance_m > 60
        assert "2016" in res.sources[0]
        assert "Census" in res.sources[0]

    @pytest.mark.parametrize(("a", "b"), PAIRS)
    def test_radius_crossing_the_state_line_is_ambiguous(
        self, resolver: JurisdictionResolver, a: str, b: str
    ) -> None:
        pa, pb = BY_NAME[a], BY_NAME[b]
        _, _, dist = GEOD.inv(pa[2], pa[1], pb[2], pb[1])
        for p in (pa, pb):
            res = resolver.resolve(LatLng(p[1], p[2]), dist)
            assert res.ambiguous
            codes = {c.jurisdictions[-1].code for c in res.candidates}
            assert {pa[4], pb[4]} <= codes
            assert {pa[3], pb[3]} <= {c.jurisdictions[1].code for c in res.candidates}
            assert sum(c.share for c in res.candidates) == pytest.approx(1.0)
            assert res.border_distance_m is not None
            assert res.border_distance_m < dist

    def test_four_corners_20m_gives_four_states(
        self, resolver: JurisdictionResolver
    ) -> None:
        res = resolver.resolve(LatLng(36.99898, -109.04518), 20.0)
        assert res.ambiguous
        states = sorted(c.jurisdictions[1].code for c in res.candidates)
        assert states == ["04", "08", "35", "49"]
        assert all(c.share > 0.1 for c in res.candidates)
        assert sum(c.share for c in res.candidates) == pytest.approx(1.0)

    def test_policy_require_precise_location_raises_with_candidates(
        self, resolver: JurisdictionResolver
    ) -> None:
        with pytest.raises(AmbiguousJurisdictionError) as info:
            resolver.resolve(
                LatLng(36.99898, -109.04518),
                20.0,
                policy=Policy.REQUIRE_PRECISE_LOCATION,
            )
        assert len(info.value.candidates) == 4

    def test_policy_highest_rate_picks_the_dearest_stack(
        self, resolver: JurisdictionResolver
    ) -> None:
        from decimal import Decimal

        rates = {
            "04": Decimal("0.056"),
            "08": Decimal("0.029"),
            "35": Decimal("0.04875"),
            "49": Decimal("0.0485"),
        }
        res = resolver.resolve(
            LatLng(36.99898, -109.04518),
            20.0,
            policy=Policy.HIGHEST_RATE,
            rate_of=lambda stack: rates[stack[1].code],
        )
        assert res.jurisdictions[1].code == "04"
        assert res.policy is Policy.HIGHEST_RATE

    def test_policy_most_likely_picks_the_largest_share(
        self, resolver: JurisdictionResolver
    ) -> None:
        pa = BY_NAME["Delmar DE"]
        res = resolver.resolve(LatLng(pa[1], pa[2]), 2000.0)
        best = max(res.candidates, key=lambda c: c.share)
        assert res.jurisdictions == best.jurisdictions
        assert res.policy is Policy.MOST_LIKELY
