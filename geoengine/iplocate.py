"""IP location from a MaxMind DB (``.mmdb``) file through ``maxminddb``.

Two record schemas are understood, per record:

* **GeoIP2 / GeoLite2 City**: ``location.latitude``, ``location.longitude``
  and ``location.accuracy_radius`` (kilometres, about 67 % confidence),
  ``country.iso_code``, ``subdivisions[0].iso_code``, ``city.names.en``,
  ``postal.code``, ``location.time_zone``.
* **Flat ip-location-db** (the DB-IP Lite City file): ``latitude``,
  ``longitude``, ``city``, ``country_code``, ``postcode``, ``state1``,
  ``state2``, ``timezone``. It has no radius, so
  :attr:`IpLocateParams.default_radius_m` is used (documented default: 50 km, a
  city-level radius comparable to the radius GeoLite2 gives most city hits)
  and :attr:`IpLocation.radius_default` is set.

Private, loopback, link-local, reserved, multicast and shared addresses get
status ``PRIVATE``; a public address absent from the file gets ``UNKNOWN``;
text that is not an address gets ``INVALID``. None of these raises: a batch is
never failed by one bad address.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from types import TracebackType
from typing import Any

import maxminddb

from geoengine.errors import InvalidPositionError, IpDatabaseError
from geoengine.types import IpLocation, IpStatus, LatLng


@dataclass(frozen=True, slots=True)
class IpLocateParams:
    """Parameters of IP location.

    Attributes
    ----------
    default_radius_m : float
        Radius (67 % confidence) used when the record has none (DB-IP Lite).
    min_radius_m : float
        Floor on radii read from the file (a radius of 0 would claim GPS
        precision for an IP).
    """

    default_radius_m: float = 50_000.0
    min_radius_m: float = 1_000.0


def classify_ip(text: str) -> tuple[IpStatus | None, str]:
    """Parse an address; return ``(status or None if routable, normalised text)``.

    Examples
    --------
    >>> classify_ip("10.1.2.3")
    (<IpStatus.PRIVATE: 'private'>, '10.1.2.3')
    >>> classify_ip("8.8.8.8")
    (None, '8.8.8.8')
    >>> classify_ip("not-an-ip")[0]
    <IpStatus.INVALID: 'invalid'>
    """
    try:
        addr = ipaddress.ip_address(str(text).strip())
    except ValueError:
        return IpStatus.INVALID, str(text)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if not addr.is_global or addr.is_multicast or addr.is_reserved:
        return IpStatus.PRIVATE, str(addr)
    return None, str(addr)


def _get(record: Mapping[str, Any], *path: str | int) -> Any:
    cur: Any = record
    for key in path:
        if isinstance(key, int):
            if not isinstance(cur, list) or len(cur) <= key:
                return None
            cur = cur[key]
        else:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(key)
    return cur


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def location_from_record(
    ip: str, record: Mapping[str, Any], params: IpLocateParams
) -> IpLocation:
    """Build an :class:`IpLocation` from one record of either schema."""
    if isinstance(record.get("location"), Mapping):  # GeoIP2 / GeoLite2 City
        lat = _as_float(_get(record, "location", "latitude"))
        lng = _as_float(_get(record, "location", "longitude"))
        radius_km = _as_float(_get(record, "location", "accuracy_radius"))
        radius_m = radius_km * 1000.0 if radius_km is not None else None
        fields = {
            "country_code": _get(record, "country", "iso_code"),
            "region": _get(record, "subdivisions", 0, "iso_code"),
            "city": _get(record, "city", "names", "en"),
            "postcode": _get(record, "postal", "code"),
            "timezone": _get(record, "location", "time_zone"),
        }
    else:  # flat ip-location-db schema (DB-IP Lite)
        lat = _as_float(record.get("latitude"))
        lng = _as_float(record.get("longitude"))
        radius_m = None
        fields = {
            "country_code": record.get("country_code"),
            "region": record.get("state1"),
            "city": record.get("city"),
            "postcode": record.get("postcode"),
            "timezone": record.get("timezone"),
        }
    clean = {k: (v if isinstance(v, str) and v else None) for k, v in fields.items()}
    if lat is None or lng is None:
        return IpLocation(ip, IpStatus.NO_LOCATION, **clean)
    try:
        latlng = LatLng(lat, lng)
    except InvalidPositionError:
        return IpLocation(ip, IpStatus.NO_LOCATION, **clean)
    defaulted = radius_m is None
    radius = params.default_radius_m if radius_m is None else radius_m
    radius = max(radius, params.min_radius_m)
    return IpLocation(ip, IpStatus.FOUND, latlng, radius, defaulted, **clean)


class IpLocator:
    """Locates IP addresses with one MaxMind DB file.

    Parameters
    ----------
    path : str or PathLike
        The ``.mmdb`` file (GeoIP2/GeoLite2 City or DB-IP Lite City schema).
    params : IpLocateParams, optional

    Examples
    --------
    >>> with IpLocator("city.mmdb") as loc:  # doctest: +SKIP
    ...     loc.locate("8.8.8.8").city
    'Mountain View'
    """

    def __init__(
        self, path: str | PathLike[str], params: IpLocateParams | None = None
    ) -> None:
        self.params = params or IpLocateParams()
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise IpDatabaseError(f"cannot open IP database {path!s}: {exc}") from exc

    @property
    def database_type(self) -> str:
        """The ``database_type`` recorded in the file's metadata."""
        return str(self._reader.metadata().database_type)

    def locate(self, ip: str) -> IpLocation:
        """Locate one address; never raises for a bad or unknown address."""
        status, norm = classify_ip(ip)
        if status is not None:
            return IpLocation(norm, status)
        try:
            record = self._reader.get(norm)
        except ValueError:
            return IpLocation(norm, IpStatus.INVALID)  # e.g. IPv6 in an IPv4-only file
        if not isinstance(record, Mapping):
            return IpLocation(norm, IpStatus.UNKNOWN)
        return location_from_record(norm, record, self.params)

    def locate_many(self, ips: Iterable[str]) -> list[IpLocation]:
        """Locate a batch; each address gets its own status."""
        return [self.locate(ip) for ip in ips]

    def close(self) -> None:
        """Close the database file."""
        self._reader.close()

    def __enter__(self) -> IpLocator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
