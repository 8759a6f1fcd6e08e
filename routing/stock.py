"""Stock placement types and the pure parts of placing stock.

Warehouses, placement parameters and problems, transfers and placements (frozen
dataclasses), the rounding of fractional targets to whole units, and the
proportional baseline (stock split by historic share of orders). The OR-Tools
part lives in :mod:`routing.prepositioning`; the replay in :mod:`routing.replay`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from routing.demand import OrderHistory, haversine_m
from routing.errors import InfeasiblePlacementError
from routing.matrix import GreatCircleProvider
from routing.types import LatLng

ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class Warehouse:
    """A stocking location of a tenant.

    ``capacity_units`` bounds the units of all SKUs together;
    ``outbound_cost_per_km_minor`` is the delivery cost of one unit per km
    (minor units); orders within ``promise_radius_m`` meet the delivery promise.
    """

    id: str
    location: LatLng
    capacity_units: int
    promise_radius_m: float
    outbound_cost_per_km_minor: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PlacementParams:
    """What a covered unit is worth and what moving stock costs (minor units).

    Parameters
    ----------
    promise_value_minor
        Value of delivering one unit within the promise.
    sale_value_minor
        Value of delivering one unit at all (beyond the promise).
    safety_z
        Size of the safety tranche in Poisson standard deviations.
    safety_value_share
        Value of a safety-tranche unit relative to a forecast unit (0..1).
    transfer_cost_per_unit_km_minor
        Cost of moving one unit one km between warehouses.
    time_limit_s
        Wall-clock limit of the LP.
    """

    promise_value_minor: int = 500
    sale_value_minor: int = 2000
    safety_z: float = 1.0
    safety_value_share: float = 0.5
    transfer_cost_per_unit_km_minor: Decimal = Decimal("0.2")
    time_limit_s: float = 60.0

    def __post_init__(self) -> None:
        if self.promise_value_minor < 0 or self.sale_value_minor < 0:
            raise ValueError("promise_value_minor: values must be >= 0")
        if self.safety_z < 0:
            raise ValueError("safety_z: must be >= 0")
        if not 0.0 <= self.safety_value_share <= 1.0:
            raise ValueError("safety_value_share: must be in [0, 1]")
        if self.transfer_cost_per_unit_km_minor < 0:
            raise ValueError("transfer_cost_per_unit_km_minor: must be >= 0")
        if self.time_limit_s <= 0:
            raise ValueError("time_limit_s: must be > 0")


@dataclass(frozen=True)
class PlacementProblem:
    """Forecast demand per (cell, SKU), warehouses and their stock per SKU."""

    warehouses: tuple[Warehouse, ...]
    sku_ids: tuple[str, ...]
    on_hand: npt.NDArray[np.int64]  # (warehouse, sku)
    cell_lat: npt.NDArray[np.float64]
    cell_lng: npt.NDArray[np.float64]
    demand: npt.NDArray[np.float64]  # (cell, sku), expected units

    def __post_init__(self) -> None:
        w, k = len(self.warehouses), len(self.sku_ids)
        if w == 0:
            raise ValueError("warehouses: at least one warehouse is needed")
        if self.on_hand.shape != (w, k):
            raise ValueError(f"on_hand: expected shape ({w}, {k})")
        if (self.on_hand < 0).any():
            raise ValueError("on_hand: stock must be >= 0")
        if self.demand.shape != (self.cell_lat.size, k):
            raise ValueError(f"demand: expected shape ({self.cell_lat.size}, {k})")
        if not np.isfinite(self.demand).all() or (self.demand < 0).any():
            raise ValueError("demand: must be finite and >= 0")
        for wh in self.warehouses:
            if wh.capacity_units < 0:
                raise ValueError(f"warehouses.{wh.id}.capacity_units: must be >= 0")
            if wh.promise_radius_m <= 0:
                raise ValueError(f"warehouses.{wh.id}.promise_radius_m: must be > 0")
            if not wh.location.is_valid():
                raise ValueError(f"warehouses.{wh.id}.location: invalid coordinates")


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move ``units`` of ``sku`` from one warehouse to another."""

    from_id: str
    to_id: str
    sku: str
    units: int
    distance_m: float
    cost_minor: int

    def to_json(self) -> dict[str, object]:
        return {
            "from": self.from_id,
            "to": self.to_id,
            "sku": self.sku,
            "units": self.units,
            "distance_m": round(self.distance_m, 1),
            "cost_minor": self.cost_minor,
        }


@dataclass(frozen=True)
class Placement:
    """Target stock per (warehouse, SKU), the transfers reaching it and solve facts."""

    target: npt.NDArray[np.int64]
    transfers: tuple[Transfer, ...]
    transfer_cost_minor: int
    objective_minor: float
    zones: int
    lp_columns: int
    solve_time_s: float


def promise_radius_for_travel_m(
    travel_s: float, provider: GreatCircleProvider | None = None
) -> float:
    """Great-circle radius reachable within ``travel_s`` of driving.

    Uses the routing package's great-circle model (road distance = detour factor
    x great-circle distance, speed by trip length), so a "within 90 minutes"
    promise and the route planner agree.

    Examples
    --------
    >>> round(promise_radius_for_travel_m(3600) / 1000)
    46
    """
    if not travel_s > 0:
        raise ValueError("promise_travel_s: must be > 0")
    provider = provider or GreatCircleProvider()
    lo, hi = 0.0, 5_000_000.0
    for _ in range(60):  # duration grows with distance: bisect
        mid = (lo + hi) / 2
        road = np.array([mid * provider.detour_factor])
        if provider.profile.duration_s(road)[0] <= travel_s:
            lo = mid
        else:
            hi = mid
    return lo


def warehouse_distances_m(
    warehouses: Sequence[Warehouse],
    lat: npt.NDArray[np.float64],
    lng: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """Great-circle metres from each point (rows) to each warehouse (columns)."""
    wlat = np.array([w.location.lat for w in warehouses])
    wlng = np.array([w.location.lng for w in warehouses])
    return haversine_m(lat[:, None], lng[:, None], wlat[None, :], wlng[None, :])


def round_targets(
    fractional: npt.NDArray[np.float64],
    supply: npt.NDArray[np.int64],
    capacity: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """Integral targets with the exact SKU totals ``supply`` and within ``capacity``.

    Floors every cell, then hands each SKU's missing units to the warehouses
    with the largest fractional parts that still have room (any warehouse with
    room if none of those has).

    Examples
    --------
    >>> round_targets(np.array([[1.5, 0.0], [0.5, 2.0]]), np.array([2, 2]),
    ...               np.array([2, 3])).tolist()
    [[2, 0], [0, 2]]
    """
    target = np.floor(fractional + 1e-9).astype(np.int64)
    room = capacity - target.sum(axis=1)
    if (room < 0).any():  # the LP respected capacity up to tolerance: trim
        for w in np.flatnonzero(room < 0):
            for k in np.argsort(fractional[w] - target[w]):
                cut = min(int(-room[w]), int(target[w, k]))
                target[w, k] -= cut
                room[w] += cut
                if room[w] >= 0:
                    break
    missing = supply - target.sum(axis=0)
    for k in np.flatnonzero(missing != 0):
        need = int(missing[k])
        if need < 0:  # too many (tolerance): take from the smallest fractions
            for w in np.argsort(fractional[:, k] - target[:, k]):
                cut = min(-need, int(target[w, k]))
                target[w, k] -= cut
                room[w] += cut
                need += cut
                if need == 0:
                    break
            continue
        order = np.argsort(-(fractional[:, k] - target[:, k]), kind="stable")
        for w in order:
            if need == 0:
                break
            give = min(need, int(room[w]), 1 if fractional[w, k] > target[w, k] else 0)
            target[w, k] += give
            room[w] -= give
            need -= give
        for w in np.argsort(-room, kind="stable"):
            if need == 0:
                break
            give = min(need, int(room[w]))
            target[w, k] += give
            room[w] -= give
            need -= give
        if need:
            raise InfeasiblePlacementError(
                "warehouses: not enough capacity left to place every unit"
            )
    return target


def historic_share(
    history: OrderHistory, warehouses: Sequence[Warehouse]
) -> npt.NDArray[np.float64]:
    """Share of each SKU's units (columns) whose order was nearest each warehouse."""
    n_k = len(history.sku_ids)
    share = np.zeros((len(warehouses), n_k))
    if history.line_order.size == 0:
        return share
    nearest = np.argmin(
        warehouse_distances_m(warehouses, history.order_lat, history.order_lng), axis=1
    )
    np.add.at(share, (nearest[history.line_order], history.line_sku), history.line_qty)
    total = share.sum(axis=0)
    return np.divide(share, total[None, :], out=np.zeros_like(share), where=total > 0)


def proportional_targets(
    share: npt.NDArray[np.float64],
    supply: npt.NDArray[np.int64],
    capacity: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """The baseline: each SKU's stock split by historic share, within capacity.

    A SKU without history is split by the warehouses' overall share. Units
    above a warehouse's capacity are pushed, SKU by SKU, to the warehouses with
    room in proportion to their share (water filling).

    Examples
    --------
    >>> proportional_targets(np.array([[0.75], [0.25]]), np.array([8]),
    ...                      np.array([10, 10])).ravel().tolist()
    [6, 2]
    """
    share = share.astype(np.float64).copy()
    overall = share.sum(axis=1)
    overall = overall / overall.sum() if overall.sum() > 0 else None
    empty = share.sum(axis=0) == 0
    if empty.any():
        fallback = (
            overall
            if overall is not None
            else np.full(share.shape[0], 1.0 / share.shape[0])
        )
        share[:, empty] = fallback[:, None]
    frac = share * supply[None, :]
    cap = capacity.astype(np.float64)
    for _ in range(50):
        load = frac.sum(axis=1)
        over = load > cap + 1e-9
        if not over.any():
            break
        scale = np.where(over, cap / np.maximum(load, 1e-12), 1.0)
        excess = frac * (1.0 - scale[:, None])  # (w, k) units to move
        frac *= scale[:, None]
        room = np.maximum(cap - frac.sum(axis=1), 0.0)
        open_ = (~over) & (room > 0)
        if not open_.any():
            break
        weight = share * open_[:, None] + 1e-12 * open_[:, None]
        weight /= weight.sum(axis=0, keepdims=True)
        frac += weight * excess.sum(axis=0)[None, :]
    return round_targets(frac, supply, capacity)
