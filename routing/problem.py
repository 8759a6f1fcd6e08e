"""An immutable routing problem and the builder that makes it.

Follows PyVRP's ``Model``: ``add_vehicle``, ``add_job`` and ``add_shipment``
collect plain values, then :meth:`ProblemBuilder.build` validates everything at
once and returns a frozen :class:`Problem`. Validation reports every offending
item in one :class:`~routing.errors.InvalidProblemError`.

Units: distances in metres, times in seconds from the planning epoch, money in
integer minor units (cents). Locations are :class:`~routing.types.LatLng` or,
when the caller supplies a travel matrix, integer rows of that matrix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Literal

from routing.errors import InvalidProblemError, ProblemIssue
from routing.matrix import TravelMatrix
from routing.types import LatLng, Location, TimeWindow

DEFAULT_SHIFT = TimeWindow(0, 7 * 86_400)
MAX_PRIORITY = 100

JobKind = Literal["delivery", "pickup"]


@dataclass(frozen=True, slots=True)
class Break:
    """A driver break of ``duration_s`` starting within one of ``time_windows``."""

    duration_s: int
    time_windows: tuple[TimeWindow, ...]


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle and its shift. ``start``/``end`` of ``None`` make an open route."""

    id: str
    start: Location | None
    end: Location | None
    shift: TimeWindow = DEFAULT_SHIFT
    capacity: tuple[int, ...] = ()
    skills: frozenset[str] = frozenset()
    fixed_cost: int = 0
    cost_per_km: int = 0
    cost_per_hour: int = 0
    speed_factor: float = 1.0
    max_distance_m: int | None = None
    max_duration_s: int | None = None
    max_stops: int | None = None
    break_: Break | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """A single stop: a delivery (goods loaded at the start) or a pickup."""

    id: str
    location: Location
    service_s: int = 0
    time_windows: tuple[TimeWindow, ...] = ()
    demand: tuple[int, ...] = ()
    skills: frozenset[str] = frozenset()
    priority: int = 0
    kind: JobKind = "delivery"


@dataclass(frozen=True, slots=True)
class ShipmentStep:
    """Where and when one end of a shipment happens."""

    location: Location
    service_s: int = 0
    time_windows: tuple[TimeWindow, ...] = ()


@dataclass(frozen=True, slots=True)
class Shipment:
    """Goods picked up at ``pickup`` and dropped at ``delivery`` by one vehicle."""

    id: str
    pickup: ShipmentStep
    delivery: ShipmentStep
    demand: tuple[int, ...] = ()
    skills: frozenset[str] = frozenset()
    priority: int = 0


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated routing problem. Build it with :class:`ProblemBuilder`."""

    vehicles: tuple[Vehicle, ...]
    jobs: tuple[Job, ...]
    shipments: tuple[Shipment, ...] = ()
    dimensions: tuple[str, ...] = ()
    matrix: TravelMatrix | None = None

    @property
    def num_dimensions(self) -> int:
        """Number of capacity dimensions."""
        return len(self.dimensions)

    def job_ids(self) -> list[str]:
        """Ids of jobs and shipments, in input order."""
        return [j.id for j in self.jobs] + [s.id for s in self.shipments]


def _tws(
    windows: Iterable[TimeWindow | tuple[int, int]] | None,
) -> tuple[TimeWindow, ...]:
    if windows is None:
        return ()
    out = [w if isinstance(w, TimeWindow) else TimeWindow(*w) for w in windows]
    return tuple(sorted(out, key=lambda w: (w.start_s, w.end_s)))


def _tw(window: TimeWindow | tuple[int, int] | None) -> TimeWindow:
    if window is None:
        return DEFAULT_SHIFT
    return window if isinstance(window, TimeWindow) else TimeWindow(*window)


class ProblemBuilder:
    """Collects vehicles, jobs and shipments, then validates and freezes them.

    Parameters
    ----------
    dimensions
        Names of the capacity dimensions, e.g. ``("weight_kg", "volume_l")``.
        Every vehicle capacity has this length; demands may be shorter (the
        missing dimensions are zero).
    matrix
        Optional caller-supplied travel matrix; locations are then integer rows.

    Examples
    --------
    >>> b = ProblemBuilder(dimensions=("items",))
    >>> _ = b.add_vehicle("van", start=LatLng(48.85, 2.35), capacity=(10,))
    >>> _ = b.add_job("order-1", LatLng(48.86, 2.34), demand=(3,))
    >>> len(b.build().jobs)
    1
    """

    def __init__(
        self, *, dimensions: Sequence[str] = (), matrix: TravelMatrix | None = None
    ) -> None:
        self._dimensions = tuple(dimensions)
        self._matrix = matrix
        self._vehicles: list[Vehicle] = []
        self._jobs: list[Job] = []
        self._shipments: list[Shipment] = []
        self._broken: list[ProblemIssue] = []

    def set_matrix(self, matrix: TravelMatrix) -> ProblemBuilder:
        """Use ``matrix`` for travel; locations must then be integer rows."""
        self._matrix = matrix
        return self

    def add_vehicle(
        self,
        id: str,
        *,
        start: Location | None = None,
        end: Location | None = None,
        return_to_start: bool = True,
        shift: TimeWindow | tuple[int, int] | None = None,
        capacity: Sequence[int] = (),
        skills: Iterable[str] = (),
        fixed_cost: int = 0,
        cost_per_km: int = 0,
        cost_per_hour: int = 0,
        speed_factor: float = 1.0,
        max_distance_m: int | None = None,
        max_duration_s: int | None = None,
        max_stops: int | None = None,
        break_: Break | None = None,
    ) -> Vehicle:
        """Add a vehicle. With ``return_to_start`` and no ``end``, it ends at start."""
        if end is None and return_to_start:
            end = start
        if break_ is not None:
            break_ = Break(break_.duration_s, _tws(break_.time_windows))
        v = Vehicle(
            id=str(id),
            start=start,
            end=end,
            shift=_tw(shift),
            capacity=tuple(capacity),
            skills=frozenset(skills),
            fixed_cost=fixed_cost,
            cost_per_km=cost_per_km,
            cost_per_hour=cost_per_hour,
            speed_factor=speed_factor,
            max_distance_m=max_distance_m,
            max_duration_s=max_duration_s,
            max_stops=max_stops,
            break_=break_,
        )
        self._vehicles.append(v)
        return v

    def add_job(
        self,
        id: str,
        location: Location,
        *,
        service_s: int = 0,
        time_windows: Iterable[TimeWindow | tuple[int, int]] | None = None,
        demand: Sequence[int] = (),
        skills: Iterable[str] = (),
        priority: int = 0,
        kind: JobKind = "delivery",
    ) -> Job:
        """Add a single-stop job (a delivery unless ``kind="pickup"``)."""
        j = Job(
            id=str(id),
            location=location,
            service_s=service_s,
            time_windows=_tws(time_windows),
            demand=tuple(demand),
            skills=frozenset(skills),
            priority=priority,
            kind=kind,
        )
        self._jobs.append(j)
        return j

    def add_shipment(
        self,
        id: str,
        *,
        pickup: ShipmentStep | None,
        delivery: ShipmentStep | None,
        demand: Sequence[int] = (),
        skills: Iterable[str] = (),
        priority: int = 0,
    ) -> Shipment | None:
        """Add a pickup-delivery pair served by one vehicle, pickup first.

        A missing ``pickup`` or ``delivery`` is reported by :meth:`build`.
        """
        if pickup is None or delivery is None:
            missing = "delivery" if delivery is None else "pickup"
            self._broken.append(
                ProblemIssue(str(id), missing, f"shipment has no {missing}")
            )
            return None
        s = Shipment(
            id=str(id),
            pickup=ShipmentStep(
                pickup.location, pickup.service_s, _tws(pickup.time_windows)
            ),
            delivery=ShipmentStep(
                delivery.location, delivery.service_s, _tws(delivery.time_windows)
            ),
            demand=tuple(demand),
            skills=frozenset(skills),
            priority=priority,
        )
        self._shipments.append(s)
        return s

    def build(self) -> Problem:
        """Validate and return the frozen :class:`Problem`.

        Raises
        ------
        InvalidProblemError
            Listing every offending item with its field and reason.
        """
        shipments = self._shipments
        dims = self._dimensions
        if not dims:
            width = max(
                [len(v.capacity) for v in self._vehicles]
                + [len(j.demand) for j in self._jobs]
                + [len(s.demand) for s in shipments]
                + [0]
            )
            dims = tuple(f"dim{i}" for i in range(width))
        issues = list(self._broken)
        issues += _validate(self._vehicles, self._jobs, shipments, dims, self._matrix)
        if issues:
            raise InvalidProblemError(issues)
        pad = len(dims)
        jobs = tuple(
            replace(j, demand=j.demand + (0,) * (pad - len(j.demand)))
            for j in self._jobs
        )
        ships = tuple(
            replace(s, demand=s.demand + (0,) * (pad - len(s.demand)))
            for s in shipments
        )
        return Problem(tuple(self._vehicles), jobs, ships, dims, self._matrix)

    data = build


# --------------------------------------------------------------------- validation
@dataclass
class _Checker:
    matrix: TravelMatrix | None
    issues: list[ProblemIssue] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)

    def add(self, item: str, fld: str, reason: str) -> None:
        self.issues.append(ProblemIssue(item, fld, reason))

    def location(
        self, item: str, fld: str, loc: object, optional: bool = False
    ) -> None:
        if loc is None:
            if not optional:
                self.add(item, fld, "location is required")
            return
        if isinstance(loc, bool):
            self.add(item, fld, "location must be a LatLng or a matrix row index")
        elif isinstance(loc, int):
            self.kinds.add("index")
            if self.matrix is None:
                self.add(item, fld, "a matrix row index needs a caller-supplied matrix")
            elif not 0 <= loc < self.matrix.size:
                self.add(
                    item, fld, f"matrix row {loc} outside 0..{self.matrix.size - 1}"
                )
        elif isinstance(loc, LatLng):
            self.kinds.add("latlng")
            if not (math.isfinite(loc.lat) and math.isfinite(loc.lng)):
                self.add(item, fld, f"coordinate is not finite ({loc.lat}, {loc.lng})")
            elif not loc.is_valid():
                self.add(item, fld, f"coordinate out of range ({loc.lat}, {loc.lng})")
        else:
            self.add(item, fld, f"unsupported location type {type(loc).__name__}")

    def windows(self, item: str, fld: str, tws: Sequence[TimeWindow]) -> None:
        for w in tws:
            if w.end_s < w.start_s:
                self.add(
                    item,
                    fld,
                    f"time window ends ({w.end_s}) before it starts ({w.start_s})",
                )
            if w.start_s < 0:
                self.add(item, fld, f"time window starts before 0 ({w.start_s})")
        for a, b in pairwise(tws):
            if b.start_s <= a.end_s:
                self.add(item, fld, "time windows overlap")
                break

    def non_negative(self, item: str, fld: str, value: float | None) -> None:
        if value is not None and not (math.isfinite(value) and value >= 0):
            self.add(item, fld, f"must be a non-negative number, got {value}")

    def demand(self, item: str, dem: Sequence[int], width: int) -> None:
        if len(dem) > width:
            self.add(
                item, "demand", f"has {len(dem)} dimensions, vehicles have {width}"
            )
        for k, q in enumerate(dem):
            if q < 0:
                self.add(item, "demand", f"negative demand {q} in dimension {k}")


def _validate(
    vehicles: Sequence[Vehicle],
    jobs: Sequence[Job],
    shipments: Sequence[Shipment],
    dims: tuple[str, ...],
    matrix: TravelMatrix | None,
) -> list[ProblemIssue]:
    c = _Checker(matrix)
    if not vehicles:
        c.add("problem", "vehicles", "at least one vehicle is required")
    seen: set[str] = set()
    for v in vehicles:
        if v.id in seen:
            c.add(v.id, "id", "duplicate vehicle id")
        seen.add(v.id)
        c.location(v.id, "start", v.start, optional=True)
        c.location(v.id, "end", v.end, optional=True)
        c.windows(v.id, "shift", [v.shift])
        if len(v.capacity) != len(dims):
            c.add(
                v.id,
                "capacity",
                f"has {len(v.capacity)} dimensions, expected {len(dims)}",
            )
        for k, q in enumerate(v.capacity):
            if q <= 0:
                c.add(
                    v.id,
                    "capacity",
                    f"capacity must be positive, got {q} in dimension {k}",
                )
        for name in ("fixed_cost", "cost_per_km", "cost_per_hour"):
            c.non_negative(v.id, name, getattr(v, name))
        if not (math.isfinite(v.speed_factor) and v.speed_factor > 0):
            c.add(v.id, "speed_factor", f"must be positive, got {v.speed_factor}")
        for name in ("max_distance_m", "max_duration_s", "max_stops"):
            val = getattr(v, name)
            if val is not None and val <= 0:
                c.add(v.id, name, f"must be positive, got {val}")
        if v.break_ is not None:
            c.non_negative(v.id, "break.duration_s", v.break_.duration_s)
            c.windows(v.id, "break.time_windows", v.break_.time_windows)
            if not v.break_.time_windows:
                c.add(v.id, "break.time_windows", "a break needs at least one window")
    seen = set()
    for j in jobs:
        if j.id in seen:
            c.add(j.id, "id", "duplicate job id")
        seen.add(j.id)
        c.location(j.id, "location", j.location)
        c.non_negative(j.id, "service_s", j.service_s)
        c.windows(j.id, "time_windows", j.time_windows)
        c.demand(j.id, j.demand, len(dims))
        if not 0 <= j.priority <= MAX_PRIORITY:
            c.add(
                j.id, "priority", f"must be within 0..{MAX_PRIORITY}, got {j.priority}"
            )
        if j.kind not in ("delivery", "pickup"):
            c.add(j.id, "kind", f"must be 'delivery' or 'pickup', got {j.kind!r}")
    for s in shipments:
        if s.id in seen:
            c.add(s.id, "id", "duplicate job id")
        seen.add(s.id)
        for step_name in ("pickup", "delivery"):
            step: ShipmentStep = getattr(s, step_name)
            c.location(s.id, f"{step_name}.location", step.location)
            c.non_negative(s.id, f"{step_name}.service_s", step.service_s)
            c.windows(s.id, f"{step_name}.time_windows", step.time_windows)
        c.demand(s.id, s.demand, len(dims))
        if not 0 <= s.priority <= MAX_PRIORITY:
            c.add(
                s.id, "priority", f"must be within 0..{MAX_PRIORITY}, got {s.priority}"
            )
    if c.kinds == {"index", "latlng"}:
        c.add("problem", "locations", "mixes coordinates and matrix row indices")
    if matrix is not None and "latlng" in c.kinds:
        c.add("problem", "matrix", "with a caller-supplied matrix use row indices")
    return c.issues
