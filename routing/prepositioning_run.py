"""A whole pre-positioning run: forecast, placement and the holdout evaluation.

:func:`plan_prepositioning` forecasts next week's units per (H3 cell, SKU) from
whole weeks of orders (:mod:`routing.forecast`), places stock with
:func:`routing.prepositioning.place_stock`, and evaluates the same method on the
last whole week against the proportional baseline and the oracle
(:func:`evaluate_week`, :mod:`routing.replay`). No storage, cache or settings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from geoengine.cells import cell_to_latlng, cell_to_parent_array, get_resolution
from routing.demand import DemandSeries, OrderHistory, demand_series
from routing.errors import EmptyHistoryError
from routing.forecast import BacktestReport, ForecastParams, forecast_series
from routing.prepositioning import place_stock, transfers_for_targets
from routing.replay import Evaluation, ReplayMetrics, replay_orders
from routing.stock import (
    Placement,
    PlacementParams,
    PlacementProblem,
    ProgressFn,
    Transfer,
    Warehouse,
    historic_share,
    proportional_targets,
)


@dataclass(frozen=True, slots=True)
class PrepositioningParams:
    """A whole run: cell resolution, forecasting, placement and evaluation."""

    h3_res: int = 7
    forecast: ForecastParams = field(default_factory=ForecastParams)
    placement: PlacementParams = field(default_factory=PlacementParams)
    evaluate: bool = True
    #: resolution of the daily series backtested for the report (res 4: metro size)
    daily_h3_res: int = 4
    #: series are grouped by their cell's parent at this resolution (and SKU)
    #: when choosing methods (see ``forecast_series``)
    group_h3_res: int = 4

    def __post_init__(self) -> None:
        if not 5 <= self.h3_res <= 9:
            raise ValueError("h3_res: must be in [5, 9]")


@dataclass(frozen=True)
class CellForecast:
    """Next week's expected units per (cell, SKU) and the backtests behind it."""

    cells: npt.NDArray[np.uint64]
    cell_lat: npt.NDArray[np.float64]
    cell_lng: npt.NDArray[np.float64]
    demand: npt.NDArray[np.float64]  # (cell, sku)
    weekly: BacktestReport
    daily: BacktestReport
    weeks: int


@dataclass(frozen=True)
class PrepositioningResult:
    """The forecast, the placement and (when asked) the evaluation of the method."""

    forecast: CellForecast
    placement: Placement
    evaluation: Evaluation | None
    solve_time_s: float


def forecast_demand(
    history: OrderHistory,
    h3_res: int,
    params: ForecastParams | None = None,
    *,
    daily_h3_res: int = 4,
    group_h3_res: int = 4,
) -> CellForecast:
    """Forecast next week's units per (H3 cell, SKU) from whole weeks of history.

    The weekly series per (cell, SKU) drive the placement; daily series per
    (coarser ``daily_h3_res`` cell, SKU), with a 7-day season, are forecast and
    backtested for the report.

    Raises
    ------
    EmptyHistoryError
        When the history holds no whole week with orders.
    """
    params = params or ForecastParams()
    weeks = history.n_days // 7
    if weeks == 0:
        raise EmptyHistoryError("history: at least one whole week of orders is needed")
    weekly = demand_series(history, h3_res, period_days=7, n_periods=weeks)
    fc = forecast_series(
        weekly.values, params, groups=_region_sku_groups(weekly, group_h3_res)
    )
    demand = np.zeros((weekly.cells.size, len(history.sku_ids)))
    demand[weekly.cell, weekly.sku] = fc.values
    daily = demand_series(history, daily_h3_res, period_days=1, n_periods=weeks * 7)
    daily_params = replace(
        params,
        season_length=7,
        backtest_origins=min(4 * params.backtest_origins, 28),
    )
    daily_fc = forecast_series(daily.values, daily_params, groups=daily.sku)
    centres = [cell_to_latlng(int(c)) for c in weekly.cells]
    return CellForecast(
        weekly.cells,
        np.array([c.lat for c in centres]),
        np.array([c.lng for c in centres]),
        demand,
        fc.report,
        daily_fc.report,
        weeks,
    )


def _region_sku_groups(series: DemandSeries, res: int) -> npt.NDArray[np.int64]:
    """Group of each series: its cell's parent at ``res`` (a metro area) and its SKU."""
    parents = cell_to_parent_array(
        series.cells, min(res, get_resolution(int(series.cells[0])))
    )
    _, region = np.unique(parents, return_inverse=True)
    return region.ravel()[series.cell] * len(series.sku_ids) + series.sku


def _actual_cells(
    week: OrderHistory, h3_res: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    series = demand_series(week, h3_res, period_days=7, n_periods=1)
    demand = np.zeros((series.cells.size, len(week.sku_ids)))
    demand[series.cell, series.sku] = series.values[:, 0]
    centres = [cell_to_latlng(int(c)) for c in series.cells]
    return (
        np.array([c.lat for c in centres]),
        np.array([c.lng for c in centres]),
        demand,
    )


def forecast_with(history: OrderHistory, params: PrepositioningParams) -> CellForecast:
    """:func:`forecast_demand` at the resolutions and settings of ``params``."""
    return forecast_demand(
        history,
        params.h3_res,
        params.forecast,
        daily_h3_res=params.daily_h3_res,
        group_h3_res=params.group_h3_res,
    )


def evaluate_week(
    train: OrderHistory,
    week: OrderHistory,
    warehouses: Sequence[Warehouse],
    on_hand: npt.NDArray[np.int64],
    params: PrepositioningParams | None = None,
    *,
    plan: Placement | None = None,
) -> Evaluation:
    """Replay ``week`` against the plan made from ``train``, the baseline and the oracle.

    The plan (computed here unless given) uses only ``train``; the proportional
    baseline splits each SKU by its historic share of ``train`` orders nearest
    each warehouse; the oracle places stock knowing ``week``'s demand per cell.
    All three start from ``on_hand`` and pay their transfers.
    """
    params = params or PrepositioningParams()
    wh = tuple(warehouses)
    if plan is None:
        fc = forecast_with(train, params)
        plan = place_stock(
            PlacementProblem(
                wh, train.sku_ids, on_hand, fc.cell_lat, fc.cell_lng, fc.demand
            ),
            params.placement,
        )
    capacity = np.array([w.capacity_units for w in wh], dtype=np.int64)
    base_target = proportional_targets(
        historic_share(train, wh), on_hand.sum(axis=0), capacity
    )
    base_moves = transfers_for_targets(
        wh, train.sku_ids, on_hand, base_target, params.placement
    )
    lat, lng, actual = _actual_cells(week, params.h3_res)
    oracle = place_stock(
        PlacementProblem(wh, train.sku_ids, on_hand, lat, lng, actual),
        replace(params.placement, safety_z=0.0),
    )

    def run(target: npt.NDArray[np.int64], moves: Sequence[Transfer]) -> ReplayMetrics:
        return replay_orders(
            week,
            wh,
            target,
            transfer_cost_minor=sum(t.cost_minor for t in moves),
            transferred_units=sum(t.units for t in moves),
        )

    return Evaluation(
        run(plan.target, plan.transfers),
        run(base_target, base_moves),
        run(oracle.target, oracle.transfers),
    )


def plan_prepositioning(
    history: OrderHistory,
    warehouses: Sequence[Warehouse],
    on_hand: npt.NDArray[np.int64],
    params: PrepositioningParams | None = None,
    progress: ProgressFn | None = None,
) -> PrepositioningResult:
    """Forecast next week, place stock for it and evaluate the method on the last week.

    The evaluation is a holdout: the same method is run on all but the last
    whole week and replayed on that week against the baseline and the oracle.

    Raises
    ------
    EmptyHistoryError
        When there is no whole week of orders.
    InfeasiblePlacementError
        When the stock exceeds the warehouses' total capacity.
    """
    params = params or PrepositioningParams()
    report = progress or (lambda _stage, _fraction: None)
    wh = tuple(warehouses)
    started = time.perf_counter()
    report("forecast", 0.0)
    fc = forecast_with(history, params)
    report("forecast", 1.0)
    placement = place_stock(
        PlacementProblem(
            wh, history.sku_ids, on_hand, fc.cell_lat, fc.cell_lng, fc.demand
        ),
        params.placement,
        report,
    )
    evaluation = None
    if params.evaluate and fc.weeks >= 3:
        report("evaluation", 0.0)
        last = (fc.weeks - 1) * 7
        evaluation = evaluate_week(
            history.days(0, last), history.days(last, last + 7), wh, on_hand, params
        )
        report("evaluation", 1.0)
    return PrepositioningResult(
        fc, placement, evaluation, time.perf_counter() - started
    )
