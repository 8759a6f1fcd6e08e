"""US ZIP codes as postal centroids with a stated radius (``zipcodes`` package)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import zipcodes

from tax_zones.errors import UnknownZipError
from tax_zones.types import LatLng

# A ZIP is an area, not a point. The radius of a circle with the mean area of a
# US ZIP Code Tabulation Area (about 9.1 million km2 of land over about 33,000
# ZCTAs, ~280 km2) is about 9.4 km; rural ZIPs are far larger, urban ones smaller.
POSTAL_CENTROID_RADIUS_M = 9_400.0
_ZIP = re.compile(r"^(\d{5})(?:-\d{4})?$")


@dataclass(frozen=True)
class ZipLocation:
    """What the ZIP table says about a ZIP code."""

    zip_code: str
    center: LatLng
    radius_m: float
    state: str  # USPS abbreviation
    county: str  # one primary county name, as listed
    city: str


def zip_location(zip_code: str) -> ZipLocation:
    """Look up a 5-digit ZIP (ZIP+4 accepted) in the offline ``zipcodes`` table.

    Raises
    ------
    UnknownZipError
        When the code is malformed or unknown (names the ``zip`` field).

    Examples
    --------
    >>> z = zip_location("75501")
    >>> z.state, z.county
    ('TX', 'Bowie County')
    """
    m = _ZIP.match(zip_code.strip()) if isinstance(zip_code, str) else None
    if m is None:
        raise UnknownZipError(f"zip: expected 5 digits (or ZIP+4), got {zip_code!r}")
    rows = zipcodes.matching(m.group(1))
    if not rows:
        raise UnknownZipError(f"zip: unknown ZIP code {m.group(1)!r}")
    row = rows[0]
    return ZipLocation(
        zip_code=m.group(1),
        center=LatLng(float(row["lat"]), float(row["long"])),
        radius_m=POSTAL_CENTROID_RADIUS_M,
        state=row["state"],
        county=row.get("county") or "",
        city=row.get("city") or "",
    )
