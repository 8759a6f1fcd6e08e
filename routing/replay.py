"""Replay a week of real orders against a stock placement, as fulfilment would.

Orders are taken in time order; each line ships from the nearest warehouse that
still has the SKU, and the rest of a line from the next nearest when the first
runs out. A unit counts as *covered* when it ships from a warehouse within that
warehouse's promise radius of the ship-to point. An order served from more than
one warehouse is a split shipment. Pure numpy and Python; no solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.demand import OrderHistory
from routing.stock import Warehouse, warehouse_distances_m


@dataclass(frozen=True, slots=True)
class ReplayMetrics:
    """What a placement achieved on the replayed orders."""

    units: int
    covered_units: int
    shipped_units: int
    unfilled_units: int
    orders: int
    split_orders: int
    mean_distance_km: float
    delivery_cost_minor: int
    transfer_cost_minor: int
    transferred_units: int

    @property
    def coverage(self) -> float:
        """Share of ordered units delivered within the promise."""
        return self.covered_units / self.units if self.units else 0.0

    def to_json(self) -> dict[str, float | int]:
        return {
            "coverage": round(self.coverage, 6),
            "units": self.units,
            "covered_units": self.covered_units,
            "shipped_units": self.shipped_units,
            "unfilled_units": self.unfilled_units,
            "orders": self.orders,
            "split_orders": self.split_orders,
            "mean_distance_km": round(self.mean_distance_km, 3),
            "delivery_cost_minor": self.delivery_cost_minor,
            "transfer_cost_minor": self.transfer_cost_minor,
            "transferred_units": self.transferred_units,
        }


def replay_orders(
    orders: OrderHistory,
    warehouses: Sequence[Warehouse],
    stock: npt.NDArray[np.int64],
    *,
    transfer_cost_minor: int = 0,
    transferred_units: int = 0,
) -> ReplayMetrics:
    """Fulfil ``orders`` from ``stock`` (warehouse x SKU) nearest-in-stock first.

    Examples
    --------
    >>> from routing.types import LatLng
    >>> wh = [Warehouse("a", LatLng(0, 0), 10, 5_000.0),
    ...       Warehouse("b", LatLng(0, 1), 10, 5_000.0)]
    >>> week = OrderHistory(("s",), np.array([0, 0], np.int32),
    ...     np.array([0.0, 0.0]), np.array([0.01, 0.02]),
    ...     np.array([0, 1], np.int32), np.array([0, 0], np.int32),
    ...     np.array([1, 2], np.int32))
    >>> m = replay_orders(week, wh, np.array([[2], [5]]))
    >>> m.covered_units, m.split_orders, m.units
    (2, 1, 3)
    """
    left = stock.astype(np.int64).copy()
    n_orders = orders.n_orders
    units = int(orders.line_qty.sum())
    if n_orders == 0:
        return ReplayMetrics(
            0, 0, 0, 0, 0, 0, 0.0, 0, transfer_cost_minor, transferred_units
        )
    dist = warehouse_distances_m(warehouses, orders.order_lat, orders.order_lng)
    rank = np.argsort(dist, axis=1, kind="stable")
    radius = np.array([w.promise_radius_m for w in warehouses])
    cost_km = np.array([float(w.outbound_cost_per_km_minor) for w in warehouses])
    time_order = np.argsort(orders.order_day, kind="stable")
    # lines grouped by order, orders in time order
    line_rank = np.argsort(time_order.argsort()[orders.line_order], kind="stable")
    covered = shipped = 0
    km_total = 0.0
    cost_total = 0.0
    split = 0
    current = -1
    used: set[int] = set()
    rank_rows = rank.tolist()
    line_order = orders.line_order.tolist()
    line_sku = orders.line_sku.tolist()
    line_qty = orders.line_qty.tolist()
    for li in line_rank.tolist():
        o = line_order[li]
        if o != current:
            if len(used) > 1:
                split += 1
            used = set()
            current = o
        k, need = line_sku[li], line_qty[li]
        for w in rank_rows[o]:
            have = left[w, k]
            if have <= 0:
                continue
            take = min(have, need)
            left[w, k] -= take
            need -= take
            d = dist[o, w]
            shipped += take
            km_total += take * d / 1000.0
            cost_total += take * d / 1000.0 * cost_km[w]
            if d <= radius[w]:
                covered += take
            used.add(w)
            if need == 0:
                break
    if len(used) > 1:
        split += 1
    return ReplayMetrics(
        units,
        int(covered),
        int(shipped),
        units - int(shipped),
        n_orders,
        split,
        km_total / shipped if shipped else 0.0,
        round(cost_total),
        transfer_cost_minor,
        transferred_units,
    )


@dataclass(frozen=True)
class Evaluation:
    """The plan, the proportional baseline and the oracle on the same week."""

    plan: ReplayMetrics
    baseline: ReplayMetrics
    oracle: ReplayMetrics

    @property
    def gap_closed(self) -> float | None:
        """Share of the baseline-to-oracle coverage gap that the plan closes."""
        gap = self.oracle.coverage - self.baseline.coverage
        if gap <= 1e-12:
            return None
        return (self.plan.coverage - self.baseline.coverage) / gap

    def to_json(self) -> dict[str, object]:
        gap = self.gap_closed
        return {
            "plan": self.plan.to_json(),
            "baseline": self.baseline.to_json(),
            "oracle": self.oracle.to_json(),
            "gap_closed": round(gap, 6) if gap is not None else None,
        }
