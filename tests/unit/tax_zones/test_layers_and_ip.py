"""Several boundary sources (US counties over world countries) and IP input."""

from __future__ import annotations

import pytest
from shapely import MultiPolygon, box

from tax_zones.errors import PositionUnavailableError
from tax_zones.jurisdictions import JurisdictionResolver, Quality, Status
from tax_zones.ports import IpPosition
from tax_zones.types import Jurisdiction, LatLng, Level, world_atlas_source

WORLD = world_atlas_source("110m")


def _country(code: str, name: str, *boxes: tuple[float, ...]) -> Jurisdiction:
    geom = MultiPolygon([box(*b) for b in boxes])
    return Jurisdiction(Level.COUNTRY, code, name, None, geom, WORLD)


COUNTRIES = [
    _country("CA", "Canada", (-141, 49, -52, 70)),
    _country("MX", "Mexico", (-117, 14, -87, 32.5)),
    _country("DE", "Germany", (6, 47.3, 15, 55)),
]


class FakeLocator:
    def __init__(self, table: dict[str, IpPosition]) -> None:
        self.table = table

    def locate(self, ip: str) -> IpPosition | None:
        return self.table.get(ip)


@pytest.fixture(scope="module")
def world_resolver(census_records: list[Jurisdiction]) -> JurisdictionResolver:
    from tax_zones.index import IndexParams
    from tax_zones.jurisdictions import ResolverParams

    # only a few states keep the build quick; countries are boxes
    recs = [
        r
        for r in census_records
        if r.level is Level.COUNTRY or r.code[:2] in {"08", "49"}
    ]
    return JurisdictionResolver(
        recs + COUNTRIES, ResolverParams(index=IndexParams(res=5))
    )


class TestLayers:
    def test_us_points_come_from_the_county_layer(
        self, world_resolver: JurisdictionResolver
    ) -> None:
        res = world_resolver.resolve(LatLng(39.7392, -104.9903), 10.0)
        assert [j.code for j in res.jurisdictions] == ["US", "08", "08031"]

    def test_points_outside_the_counties_fall_back_to_countries(
        self, world_resolver: JurisdictionResolver
    ) -> None:
        res = world_resolver.resolve(LatLng(52.52, 13.405), 100.0)  # Berlin
        assert [j.code for j in res.jurisdictions] == ["DE"]
        assert res.boundary_error_m == WORLD.boundary_error_m
        assert "Natural Earth" in res.sources[0]

    def test_sea_is_still_no_jurisdiction(
        self, world_resolver: JurisdictionResolver
    ) -> None:
        res = world_resolver.resolve(LatLng(40.0, -40.0), 100.0)
        assert res.status is Status.NO_JURISDICTION


class TestResolveIp:
    LOCATOR = FakeLocator(
        {
            "8.8.8.8": IpPosition(39.74, -104.99, 20_000.0, "US"),
            "5.5.5.5": IpPosition(None, None, None, "DE"),
            "6.6.6.6": IpPosition(None, None, None, None),
        }
    )

    def test_city_level_ip_uses_the_database_radius(
        self, world_resolver: JurisdictionResolver
    ) -> None:
        res = world_resolver.resolve_ip("8.8.8.8", self.LOCATOR)
        assert res.quality is Quality.IP_CITY
        assert res.accuracy_m == 20_000.0
        assert res.ambiguous  # a 20 km disc around Denver crosses county lines

    def test_country_only_ip(self, world_resolver: JurisdictionResolver) -> None:
        res = world_resolver.resolve_ip("5.5.5.5", self.LOCATOR)
        assert res.quality is Quality.COUNTRY
        assert [j.code for j in res.jurisdictions] == ["DE"]
        assert res.accuracy_m is None

    @pytest.mark.parametrize("ip", ["6.6.6.6", "7.7.7.7"])
    def test_ip_without_position_says_so(
        self, world_resolver: JurisdictionResolver, ip: str
    ) -> None:
        with pytest.raises(PositionUnavailableError, match=r"^ip: .*no position"):
            world_resolver.resolve_ip(ip, self.LOCATOR)


class TestValidityDates:
    def test_records_outside_their_dates_are_ignored(self) -> None:
        from datetime import date

        old = Jurisdiction(
            Level.COUNTRY,
            "XO",
            "Old",
            None,
            MultiPolygon([box(0, 0, 1, 1)]),
            WORLD,
            valid_to=date(2020, 1, 1),
        )
        new = Jurisdiction(
            Level.COUNTRY,
            "XN",
            "New",
            None,
            MultiPolygon([box(0, 0, 1, 1)]),
            WORLD,
            valid_from=date(2020, 1, 1),
        )
        from tax_zones.index import IndexParams
        from tax_zones.jurisdictions import ResolverParams

        r = JurisdictionResolver([old, new], ResolverParams(index=IndexParams(res=4)))
        point = LatLng(0.5, 0.5)
        assert r.resolve(point, 10.0, at=date(2019, 6, 1)).jurisdictions[0].code == "XO"
        assert r.resolve(point, 10.0, at=date(2021, 6, 1)).jurisdictions[0].code == "XN"


class TestHighestRateWithTheRateTable:
    def test_stack_rate_ranks_candidates(self, resolver: JurisdictionResolver) -> None:
        from datetime import date

        from tax_zones.jurisdictions import Policy
        from tax_zones.rates import RateTable

        rates = RateTable.from_csv()
        day = date(2025, 6, 1)
        res = resolver.resolve(
            LatLng(36.99898, -109.04518),
            20.0,
            policy=Policy.HIGHEST_RATE,
            rate_of=lambda stack: rates.stack_rate([j.code for j in stack], day),
        )
        assert res.jurisdictions[1].code == "04"  # Arizona 5.6% is the highest
