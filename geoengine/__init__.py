"""Geofence engine: H3-indexed fences, IP/GPS fusion and fence events.

Pure domain code: no database, Redis or web imports (those live in the
lead's ``service.py``, ``repository.py`` and ``state.py``).

Modules: ``types`` (LatLng, Geofence, PositionFix, ...), ``errors``,
``cells`` (the only H3 importer), ``geometry`` (GeoJSON validation),
``covering`` and ``index`` (exact H3 fence index, ``contains`` and
``nearby``), ``prefilter``, ``proximity`` (batch signed distances),
``iplocate`` (MaxMind DB), ``fusion`` / ``fusion_batch`` (Kalman fusion),
``events`` / ``events_batch`` (enter, exit, dwell), ``ports`` (Protocols).

Examples
--------
>>> from geoengine import (FenceIndex, Geofence, LatLng, PositionFix,
...     evaluate_fences, fence_geometry_from_geojson, fuse)
>>> geo = fence_geometry_from_geojson(
...     {"type": "Point", "coordinates": [-73.9857, 40.7484]}, radius_m=150)
>>> store = Geofence(1, geo.geometry, name="Empire State", dwell_s=300)
>>> index = FenceIndex.build([store])
>>> index.contains([-73.9857, -73.99], [40.7484, 40.75]).to_lists()
[[1], []]
>>> r = fuse(None, PositionFix("phone-1", 0.0, LatLng(40.7484, -73.9857), 8.0))
>>> near = {i: store for i, _ in index.nearby(r.estimate.latlng, 100.0)}
>>> _, events = evaluate_fences("phone-1", r.estimate, near, {})
>>> [(e.fence_id, e.kind.value) for e in events]
[(1, 'enter')]
"""

from geoengine.cells import (
    cell_to_latlng,
    cell_to_parent,
    cell_to_parent_array,
    get_resolution,
    grid_disk,
    latlng_to_cell,
    latlng_to_cell_array,
)
from geoengine.covering import CoverParams, cover_fence, cover_fences
from geoengine.errors import (
    EmptyGeometryError,
    FenceNotFoundError,
    GeoEngineError,
    GeometryTooLargeError,
    InvalidGeometryError,
    InvalidInputError,
    InvalidPositionError,
    IpDatabaseError,
    RingError,
    SelfIntersectionError,
    StateError,
    UnsupportedGeometryError,
)
from geoengine.events import (
    EventParams,
    Membership,
    decode_memberships,
    encode_memberships,
    evaluate_fences,
    inside_probability,
    signed_distance_m,
)
from geoengine.events_batch import evaluate_batch, evaluate_batch_arrays
from geoengine.fusion import DeviceState, FusionParams, FusionResult, fuse
from geoengine.fusion_batch import FusionArrays, fuse_batch
from geoengine.geometry import (
    FenceGeometry,
    GeometryParams,
    circle_to_polygon,
    fence_geometry_from_geojson,
    geodesic_area_m2,
    service_area_flags,
)
from geoengine.index import ContainsResult, FenceIndex, IndexParams
from geoengine.iplocate import IpLocateParams, IpLocator, classify_ip
from geoengine.ports import DeviceStateStore, EventSink, FenceChangeFeed, GeofenceStore
from geoengine.proximity import FenceProximity, ProximityPairs
from geoengine.types import (
    EventKind,
    FenceEvent,
    FenceId,
    Flag,
    Geofence,
    IpLocation,
    IpStatus,
    LatLng,
    PositionEstimate,
    PositionFix,
    Source,
)

__all__ = [
    "ContainsResult",
    "CoverParams",
    "DeviceState",
    "DeviceStateStore",
    "EmptyGeometryError",
    "EventKind",
    "EventParams",
    "EventSink",
    "FenceChangeFeed",
    "FenceEvent",
    "FenceGeometry",
    "FenceId",
    "FenceIndex",
    "FenceNotFoundError",
    "FenceProximity",
    "Flag",
    "FusionArrays",
    "FusionParams",
    "FusionResult",
    "GeoEngineError",
    "Geofence",
    "GeofenceStore",
    "GeometryParams",
    "GeometryTooLargeError",
    "IndexParams",
    "InvalidGeometryError",
    "InvalidInputError",
    "InvalidPositionError",
    "IpDatabaseError",
    "IpLocateParams",
    "IpLocation",
    "IpLocator",
    "IpStatus",
    "LatLng",
    "Membership",
    "PositionEstimate",
    "PositionFix",
    "ProximityPairs",
    "RingError",
    "SelfIntersectionError",
    "Source",
    "StateError",
    "UnsupportedGeometryError",
    "cell_to_latlng",
    "cell_to_parent",
    "cell_to_parent_array",
    "circle_to_polygon",
    "classify_ip",
    "cover_fence",
    "cover_fences",
    "decode_memberships",
    "encode_memberships",
    "evaluate_batch",
    "evaluate_batch_arrays",
    "evaluate_fences",
    "fence_geometry_from_geojson",
    "fuse",
    "fuse_batch",
    "geodesic_area_m2",
    "get_resolution",
    "grid_disk",
    "inside_probability",
    "latlng_to_cell",
    "latlng_to_cell_array",
    "service_area_flags",
    "signed_distance_m",
]
