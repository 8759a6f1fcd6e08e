"""The result of a solve: routes with a timed schedule, totals and unassigned jobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from routing.types import LatLng, Location

StopKind = Literal["start", "job", "pickup", "delivery", "end"]
UnassignedReason = Literal[
    "skills",
    "capacity",
    "time_window",
    "distance",
    "duration",
    "no_vehicle_left",
]


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """One visit of a route, with its schedule.

    ``arrival_s`` is when the vehicle gets there, ``waiting_s`` how long it
    waits for the window to open (a break is reported on the route), service
    starts at ``arrival_s + waiting_s`` and the vehicle leaves at
    ``departure_s``. ``load_after`` is what is on board after the stop, per
    dimension; ``distance_m`` and ``duration_s`` are cumulative from the route
    start. ``late_s`` is positive only with soft time windows.
    """

    kind: StopKind
    job_id: str | None
    location: Location | None
    arrival_s: float
    waiting_s: float
    departure_s: float
    load_after: tuple[int, ...]
    distance_m: float
    duration_s: float
    late_s: float = 0.0

    @property
    def service_start_s(self) -> float:
        """When service starts."""
        return self.arrival_s + self.waiting_s


@dataclass(frozen=True, slots=True)
class VehicleRoute:
    """The ordered stops of one vehicle (first is ``start``, last is ``end``)."""

    vehicle_id: str
    stops: tuple[PlannedStop, ...]
    distance_m: float
    duration_s: float
    waiting_s: float
    cost: int = 0
    break_start_s: float | None = None

    def job_ids(self) -> list[str]:
        """Job ids in visiting order (a shipment appears at pickup and delivery)."""
        return [s.job_id for s in self.stops if s.job_id is not None]


@dataclass(frozen=True, slots=True)
class UnassignedJob:
    """A job left out of every route and why."""

    job_id: str
    reason: UnassignedReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Routes of the vehicles that are used, unassigned jobs and totals.

    ``cost`` is in integer minor units (fixed costs plus per-km and per-hour
    costs of used vehicles). ``objective_value`` is in the objective's units.
    """

    routes: tuple[VehicleRoute, ...]
    unassigned: tuple[UnassignedJob, ...]
    objective: str
    objective_value: float
    solve_time_s: float
    cost: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def distance_m(self) -> float:
        """Total distance in metres."""
        return sum(r.distance_m for r in self.routes)

    @property
    def duration_s(self) -> float:
        """Total route duration in seconds (driving, waiting and service)."""
        return sum(r.duration_s for r in self.routes)

    @property
    def waiting_s(self) -> float:
        """Total waiting in seconds."""
        return sum(r.waiting_s for r in self.routes)

    @property
    def vehicles_used(self) -> int:
        """Number of routes with at least one stop."""
        return len(self.routes)

    def route_of(self, vehicle_id: str) -> VehicleRoute | None:
        """The route of ``vehicle_id`` or ``None`` if it is unused."""
        return next((r for r in self.routes if r.vehicle_id == vehicle_id), None)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (plain numbers, strings and lists)."""
        return {
            "objective": self.objective,
            "objective_value": round(self.objective_value, 3),
            "distance_m": round(self.distance_m, 3),
            "duration_s": round(self.duration_s, 3),
            "waiting_s": round(self.waiting_s, 3),
            "cost": self.cost,
            "vehicles_used": self.vehicles_used,
            "solve_time_s": round(self.solve_time_s, 3),
            "routes": [_route_json(r) for r in self.routes],
            "unassigned": [
                {"job_id": u.job_id, "reason": u.reason, "detail": u.detail}
                for u in self.unassigned
            ],
            "stats": dict(self.stats),
        }

    def to_geojson(self, coordinates: Sequence[LatLng] | None = None) -> dict[str, Any]:
        """A GeoJSON FeatureCollection: one LineString per route, one Point per stop.

        Parameters
        ----------
        coordinates
            Positions of matrix rows, needed when locations are row indices.
        """
        features: list[dict[str, Any]] = []
        for r in self.routes:
            line: list[list[float]] = []
            for s in r.stops:
                pos = _position(s.location, coordinates)
                if pos is None:
                    continue
                if not line or line[-1] != pos:
                    line.append(pos)
                if s.job_id is not None:
                    features.append(
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": pos},
                            "properties": {
                                "vehicle_id": r.vehicle_id,
                                "job_id": s.job_id,
                                "kind": s.kind,
                                "arrival_s": s.arrival_s,
                                "departure_s": s.departure_s,
                            },
                        }
                    )
            if len(line) >= 2:
                features.insert(
                    0,
                    {
                        "type": "Feature",
                        "geometry": {"type": "LineString", "coordinates": line},
                        "properties": {
                            "vehicle_id": r.vehicle_id,
                            "distance_m": round(r.distance_m, 3),
                            "duration_s": round(r.duration_s, 3),
                            "stops": len(r.job_ids()),
                        },
                    },
                )
        return {"type": "FeatureCollection", "features": features}


def _position(
    loc: Location | None, coords: Sequence[LatLng] | None
) -> list[float] | None:
    if isinstance(loc, LatLng):
        return [loc.lng, loc.lat]  # GeoJSON order: x=lng, y=lat
    if isinstance(loc, int) and coords is not None:
        p = coords[loc]
        return [p.lng, p.lat]
    return None


def _route_json(r: VehicleRoute) -> dict[str, Any]:
    return {
        "vehicle_id": r.vehicle_id,
        "distance_m": round(r.distance_m, 3),
        "duration_s": round(r.duration_s, 3),
        "waiting_s": round(r.waiting_s, 3),
        "cost": r.cost,
        "break_start_s": r.break_start_s,
        "stops": [
            {
                "kind": s.kind,
                "job_id": s.job_id,
                "location": _loc_json(s.location),
                "arrival_s": round(s.arrival_s, 3),
                "waiting_s": round(s.waiting_s, 3),
                "departure_s": round(s.departure_s, 3),
                "load_after": list(s.load_after),
                "distance_m": round(s.distance_m, 3),
                "duration_s": round(s.duration_s, 3),
                "late_s": round(s.late_s, 3),
            }
            for s in r.stops
        ],
    }


def _loc_json(loc: Location | None) -> Any:
    if isinstance(loc, LatLng):
        return {"lat": loc.lat, "lng": loc.lng}
    return loc
