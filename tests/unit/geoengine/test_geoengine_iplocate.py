"""IP location on MMDB fixtures built at test time, in both schemas."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from geoengine.errors import IpDatabaseError
from geoengine.iplocate import IpLocateParams, IpLocator, classify_ip
from geoengine.types import IpStatus, LatLng


@pytest.fixture(scope="module")
def geoip2_city(tmp_path_factory) -> Path:
    """GeoIP2/GeoLite2 City schema (nested, accuracy_radius in km)."""
    w = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en"],
        description="test",
    )
    w.insert_network(
        IPSet(["8.8.8.0/24"]),
        {
            "city": {"geoname_id": 5375480, "names": {"en": "Mountain View"}},
            "country": {"iso_code": "US", "names": {"en": "United States"}},
            "location": {
                "latitude": 37.386,
                "longitude": -122.0838,
                "accuracy_radius": 1000,
                "time_zone": "America/Los_Angeles",
            },
            "postal": {"code": "94035"},
            "subdivisions": [{"iso_code": "CA", "names": {"en": "California"}}],
        },
    )
    w.insert_network(
        IPSet(["81.2.69.0/24"]),
        {
            "city": {"names": {"en": "London"}},
            "country": {"iso_code": "GB"},
            "location": {
                "latitude": 51.5142,
                "longitude": -0.0931,
                "accuracy_radius": 5,
            },
        },
    )
    w.insert_network(
        IPSet(["2001:db9::/32"]),
        {  # country only, no location
            "country": {"iso_code": "DE"},
            "location": {"time_zone": "Europe/Berlin"},
        },
    )
    path = tmp_path_factory.mktemp("mmdb") / "geolite2-city.mmdb"
    w.to_db_file(str(path))
    return path


@pytest.fixture(scope="module")
def dbip_city(tmp_path_factory) -> Path:
    """Flat ip-location-db schema, as in the DB-IP Lite City file."""
    w = MMDBWriter(ip_version=4, database_type="ip-location-db-dbip-city")
    w.insert_network(
        IPSet(["8.8.8.0/24"]),
        {
            "city": "Mountain View",
            "country_code": "US",
            "latitude": 37.4056,
            "longitude": -122.0775,
            "postcode": "94043",
            "state1": "California",
            "state2": "",
            "timezone": "America/Los_Angeles",
        },
    )
    w.insert_network(IPSet(["1.1.1.0/24"]), {"city": "Sydney", "country_code": "AU"})
    path = tmp_path_factory.mktemp("mmdb") / "dbip-city-ipv4.mmdb"
    w.to_db_file(str(path))
    return path


class TestGeoIP2Schema:
    def test_found_with_radius_in_metres(self, geoip2_city) -> None:
        with IpLocator(geoip2_city) as loc:
            r = loc.locate("8.8.8.8")
        assert r.status is IpStatus.FOUND
        assert r.latlng == LatLng(37.386, -122.0838)
        assert r.radius_m == 1_000_000.0
        assert not r.radius_default
        assert (r.city, r.country_code, r.region, r.postcode) == (
            "Mountain View",
            "US",
            "CA",
            "94035",
        )
        assert r.timezone == "America/Los_Angeles"

    def test_small_radius_is_floored(self, geoip2_city) -> None:
        with IpLocator(geoip2_city, IpLocateParams(min_radius_m=10_000)) as loc:
            assert loc.locate("81.2.69.160").radius_m == 10_000.0

    def test_record_without_location(self, geoip2_city) -> None:
        with IpLocator(geoip2_city) as loc:
            r = loc.locate("2001:db9::1")
        assert r.status is IpStatus.NO_LOCATION
        assert r.country_code == "DE"
        assert r.latlng is None


class TestDbIpSchema:
    def test_found_with_documented_default_radius(self, dbip_city) -> None:
        with IpLocator(dbip_city) as loc:
            assert "dbip" in loc.database_type
            r = loc.locate("8.8.8.8")
        assert r.status is IpStatus.FOUND
        assert r.latlng == LatLng(37.4056, -122.0775)
        assert r.radius_m == IpLocateParams().default_radius_m
        assert r.radius_default
        assert (r.city, r.country_code, r.region, r.postcode) == (
            "Mountain View",
            "US",
            "California",
            "94043",
        )

    def test_no_coordinates(self, dbip_city) -> None:
        with IpLocator(dbip_city) as loc:
            assert loc.locate("1.1.1.1").status is IpStatus.NO_LOCATION

    def test_ipv6_in_ipv4_database_does_not_raise(self, dbip_city) -> None:
        with IpLocator(dbip_city) as loc:
            assert loc.locate("2606:4700::1111").status in {
                IpStatus.INVALID,
                IpStatus.UNKNOWN,
            }


@pytest.mark.parametrize("fixture", ["geoip2_city", "dbip_city"])
def test_batch_never_raises(request, fixture) -> None:
    path = request.getfixturevalue(fixture)
    ips = [
        "8.8.8.8",
        "10.0.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.1.1",
        "::1",
        "fe80::1",
        "224.0.0.1",
        "100.64.0.1",
        "0.0.0.0",
        "9.9.9.9",
        "nope",
        "",
        "300.1.1.1",
        "::ffff:10.0.0.1",
    ]
    with IpLocator(path) as loc:
        got = [r.status for r in loc.locate_many(ips)]
    assert got == [IpStatus.FOUND] + [IpStatus.PRIVATE] * 9 + [IpStatus.UNKNOWN] + [
        IpStatus.INVALID
    ] * 3 + [IpStatus.PRIVATE]


def test_classify_normalises() -> None:
    assert classify_ip(" 8.8.8.8 ") == (None, "8.8.8.8")
    assert classify_ip("::ffff:8.8.8.8") == (None, "8.8.8.8")


def test_unreadable_database(tmp_path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database")
    with pytest.raises(IpDatabaseError, match="cannot open"):
        IpLocator(bad)
    with pytest.raises(IpDatabaseError):
        IpLocator(tmp_path / "missing.mmdb")
