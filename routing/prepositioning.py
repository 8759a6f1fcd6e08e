"""Warehouse pre-positioning: turn forecast demand per H3 cell into stock moves.

One linear programme (GLOP) places every SKU at once because warehouse capacity
is shared across SKUs; per-SKU min-cost flows (``SimpleMinCostFlow``) then turn
the rounded targets into integral transfer orders at least cost.

The LP, in minor units of money, maximises::

    sum  y[z,w,k] * (promise_value * within(z,w) + sale_value - cost_km[w] * km(z,w))
  - sum  extra[z,k] * safety_penalty
  - sum  t[v,w,k] * transfer_cost_km * km(v,w)

where ``y`` is forecast demand of zone ``z`` for SKU ``k`` served from warehouse
``w``, ``t`` moves units between warehouses and the target stock is
``s[w,k] = on_hand[w,k] + in - out``, subject to ``sum_z y[z,w,k] <= s[w,k]``,
``s >= 0``, ``sum_k s[w,k] <= capacity[w]`` and ``sum_w y[z,w,k] <= forecast +
extra`` with ``extra <= safety_z * sqrt(forecast)`` (a second, less valuable
tranche of demand that buys a Poisson safety margin). Total stock per SKU is
conserved (supply is what is on hand).

Cells with the same nearest warehouse and the same set of warehouses within
their promise radius are merged into one zone (distances demand-weighted), which
keeps the LP at a few tens of thousands of columns for 5,000 cells, 20
warehouses and 100 SKUs while keeping coverage exact.

This module imports ``ortools`` (like :mod:`routing.solver`); it reads no
database, cache or settings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp

from routing.demand import haversine_m
from routing.errors import InfeasiblePlacementError, SolverError
from routing.stock import (
    Placement,
    PlacementParams,
    PlacementProblem,
    ProgressFn,
    Transfer,
    Warehouse,
    round_targets,
    warehouse_distances_m,
)

COST_SCALE = 1000  # min-cost flow needs integer unit costs: thousandths of minor units


def _check_supply(problem: PlacementProblem) -> None:
    supply = int(problem.on_hand.sum())
    capacity = sum(w.capacity_units for w in problem.warehouses)
    if supply > capacity:
        raise InfeasiblePlacementError(
            f"warehouses: total capacity {capacity} units is below the {supply} "
            "units on hand; add capacity or warehouses"
        )


@dataclass(frozen=True)
class _Zones:
    demand: npt.NDArray[np.float64]  # (zone, sku)
    km: npt.NDArray[np.float64]  # (zone, warehouse)
    within: npt.NDArray[np.bool_]  # (zone, warehouse)
    candidate: npt.NDArray[np.bool_]  # (zone, warehouse)


def _zones(problem: PlacementProblem) -> _Zones:
    dist = warehouse_distances_m(problem.warehouses, problem.cell_lat, problem.cell_lng)
    radius = np.array([w.promise_radius_m for w in problem.warehouses])
    within = dist <= radius[None, :]
    nearest = np.argmin(dist, axis=1)
    signature = np.concatenate([nearest[:, None], within.astype(np.int64)], axis=1)
    _, zone = np.unique(signature, axis=0, return_inverse=True)
    zone = zone.ravel()
    n_zones = int(zone.max()) + 1
    weight = problem.demand.sum(axis=1) + 1e-9
    demand = np.zeros((n_zones, problem.demand.shape[1]))
    np.add.at(demand, zone, problem.demand)
    km = np.zeros((n_zones, dist.shape[1]))
    np.add.at(km, zone, dist * weight[:, None] / 1000.0)
    km /= np.bincount(zone, weights=weight, minlength=n_zones)[:, None]
    z_within = np.zeros((n_zones, dist.shape[1]), dtype=bool)
    z_within[zone, :] = within
    candidate = z_within.copy()
    candidate[zone, nearest] = True
    return _Zones(demand, km, z_within, candidate)


def place_stock(
    problem: PlacementProblem,
    params: PlacementParams | None = None,
    progress: ProgressFn | None = None,
) -> Placement:
    """Target stock and transfer orders that cover the most forecast demand.

    Parameters
    ----------
    problem
        Forecast demand per cell and SKU, warehouses, stock on hand.
    params
        Values and costs in minor units, safety margin, time limit.
    progress
        Called with a stage name and the fraction done.

    Returns
    -------
    Placement
        Integral targets (never above a warehouse's capacity, SKU totals equal
        to the stock on hand) and balanced transfers.

    Raises
    ------
    InfeasiblePlacementError
        When the stock on hand exceeds the total capacity.
    SolverError
        When the LP solver fails.
    """
    params = params or PlacementParams()
    _check_supply(problem)
    started = time.perf_counter()
    report = progress or (lambda _stage, _fraction: None)
    report("placement", 0.0)
    zones = _zones(problem)
    fractional, objective, columns = _solve_lp(problem, zones, params)
    report("placement", 0.8)
    target = round_targets(
        fractional,
        problem.on_hand.sum(axis=0),
        np.array([w.capacity_units for w in problem.warehouses], dtype=np.int64),
    )
    transfers = transfers_for_targets(
        problem.warehouses, problem.sku_ids, problem.on_hand, target, params
    )
    report("placement", 1.0)
    return Placement(
        target,
        transfers,
        sum(t.cost_minor for t in transfers),
        objective,
        zones.demand.shape[0],
        columns,
        time.perf_counter() - started,
    )


def _solve_lp(
    problem: PlacementProblem, zones: _Zones, params: PlacementParams
) -> tuple[npt.NDArray[np.float64], float, int]:
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:  # pragma: no cover - GLOP ships with every OR-Tools build
        raise SolverError("GLOP is not available in this OR-Tools build")
    solver.SetTimeLimit(int(params.time_limit_s * 1000))
    wh = problem.warehouses
    n_w, n_k = len(wh), len(problem.sku_ids)
    on_hand = problem.on_hand.astype(np.float64)
    cost_km = np.array([float(w.outbound_cost_per_km_minor) for w in wh])
    wlat = np.array([w.location.lat for w in wh])
    wlng = np.array([w.location.lng for w in wh])
    ww_km = (
        haversine_m(wlat[:, None], wlng[:, None], wlat[None, :], wlng[None, :]) / 1e3
    )
    transfer_km = float(params.transfer_cost_per_unit_km_minor)
    value = (
        params.promise_value_minor * zones.within
        + params.sale_value_minor
        - cost_km[None, :] * zones.km
    )  # (zone, warehouse)
    penalty = (1.0 - params.safety_value_share) * (
        params.promise_value_minor + params.sale_value_minor
    )
    objective = solver.Objective()
    objective.SetMaximization()
    inf = solver.infinity()
    # per (warehouse, sku): served <= on_hand + in - out (so the target is >= 0)
    serve = [
        [solver.Constraint(-inf, on_hand[w, k]) for k in range(n_k)] for w in range(n_w)
    ]
    cap = [
        solver.Constraint(-inf, float(wh[w].capacity_units) - on_hand[w].sum())
        for w in range(n_w)
    ]
    columns = 0
    transfers: list[tuple[int, int, int, pywraplp.Variable]] = []
    for k in range(n_k):
        sources = np.flatnonzero(on_hand[:, k] > 0)
        for v in sources:
            for w in range(n_w):
                if v == w:
                    continue
                t = solver.NumVar(0.0, on_hand[v, k], "")
                objective.SetCoefficient(t, -transfer_km * ww_km[v, w])
                # leaving v: served at v must fit the rest; arriving at w
                serve[v][k].SetCoefficient(t, 1.0)
                cap[v].SetCoefficient(t, -1.0)
                serve[w][k].SetCoefficient(t, -1.0)
                cap[w].SetCoefficient(t, 1.0)
                transfers.append((v, w, k, t))
                columns += 1
    z_idx, k_idx = np.nonzero(zones.demand > 0)
    for z, k in zip(z_idx.tolist(), k_idx.tolist(), strict=True):
        f = zones.demand[z, k]
        cands = np.flatnonzero(zones.candidate[z] & (value[z] > 0))
        if cands.size == 0:
            continue
        extra = solver.NumVar(0.0, params.safety_z * float(np.sqrt(f)), "")
        objective.SetCoefficient(extra, -penalty)
        row = solver.Constraint(-inf, f)
        row.SetCoefficient(extra, -1.0)
        columns += 1
        for w in cands.tolist():
            y = solver.NumVar(0.0, inf, "")
            objective.SetCoefficient(y, float(value[z, w]))
            row.SetCoefficient(y, 1.0)
            serve[w][k].SetCoefficient(y, 1.0)
            columns += 1
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise SolverError(f"placement LP ended with status {status}")
    target = on_hand.copy()
    for v, w, k, t in transfers:
        x = t.solution_value()
        if x > 0:
            target[v, k] -= x
            target[w, k] += x
    return np.maximum(target, 0.0), objective.Value(), columns


def transfers_for_targets(
    warehouses: Sequence[Warehouse],
    sku_ids: Sequence[str],
    on_hand: npt.NDArray[np.int64],
    target: npt.NDArray[np.int64],
    params: PlacementParams | None = None,
) -> tuple[Transfer, ...]:
    """The cheapest transfers turning ``on_hand`` into ``target`` (min-cost flow per SKU).

    Raises
    ------
    ValueError
        When a SKU's target total differs from its stock (transfers must balance).
    """
    params = params or PlacementParams()
    if on_hand.shape != target.shape:
        raise ValueError("target: must have the shape of on_hand")
    diff = on_hand.sum(axis=0) - target.sum(axis=0)
    if diff.any():
        k = int(np.flatnonzero(diff)[0])
        raise ValueError(f"target: SKU {sku_ids[k]} does not keep its total stock")
    wlat = np.array([w.location.lat for w in warehouses])
    wlng = np.array([w.location.lng for w in warehouses])
    dist_m = haversine_m(wlat[:, None], wlng[:, None], wlat[None, :], wlng[None, :])
    rate = params.transfer_cost_per_unit_km_minor
    unit_cost = np.rint(dist_m / 1000.0 * float(rate) * COST_SCALE).astype(np.int64)
    out: list[Transfer] = []
    delta = on_hand - target  # > 0: surplus to send
    for k in np.flatnonzero((delta != 0).any(axis=0)):
        src = np.flatnonzero(delta[:, k] > 0)
        dst = np.flatnonzero(delta[:, k] < 0)
        flow = min_cost_flow.SimpleMinCostFlow()
        n_src = src.size
        tails, heads, caps, costs = [], [], [], []
        for i, v in enumerate(src.tolist()):
            for j, w in enumerate(dst.tolist()):
                tails.append(i)
                heads.append(n_src + j)
                caps.append(int(delta[v, k]))
                costs.append(int(unit_cost[v, w]))
        flow.add_arcs_with_capacity_and_unit_cost(
            np.array(tails), np.array(heads), np.array(caps), np.array(costs)
        )
        supplies = np.concatenate([delta[src, k], delta[dst, k]]).astype(np.int64)
        flow.set_nodes_supplies(np.arange(supplies.size), supplies)
        if flow.solve() != flow.OPTIMAL:
            raise SolverError(f"transfers of SKU {sku_ids[k]}: min-cost flow failed")
        units = flow.flows(np.arange(flow.num_arcs()))
        for a in np.flatnonzero(units > 0).tolist():
            v, w = int(src[tails[a]]), int(dst[heads[a] - n_src])
            d = float(dist_m[v, w])
            cost = (Decimal(int(units[a])) * Decimal(repr(d / 1000.0)) * rate).quantize(
                Decimal(1), rounding=ROUND_HALF_EVEN
            )
            out.append(
                Transfer(
                    warehouses[v].id,
                    warehouses[w].id,
                    sku_ids[k],
                    int(units[a]),
                    d,
                    int(cost),
                )
            )
    return tuple(out)
