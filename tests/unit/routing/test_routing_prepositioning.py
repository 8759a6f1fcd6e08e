"""Pre-positioning: forecasts on hand-computable series, placement invariants,
rounding, replay and the empty-history error."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.demand import (
    City,
    HistoryParams,
    OrderHistory,
    demand_series,
    generate_history,
)
from routing.errors import EmptyHistoryError, InfeasiblePlacementError
from routing.forecast import (
    ForecastParams,
    croston,
    forecast_series,
    seasonal_naive,
    ses,
    tsb,
)
from routing.prepositioning import place_stock, transfers_for_targets
from routing.prepositioning_run import (
    PrepositioningParams,
    forecast_demand,
    plan_prepositioning,
)
from routing.replay import replay_orders
from routing.stock import (
    PlacementParams,
    PlacementProblem,
    Warehouse,
    proportional_targets,
    round_targets,
)
from routing.types import LatLng

DENVER = City("Denver", LatLng(39.7392, -104.9903), 700_000)
BOULDER = City("Boulder", LatLng(40.015, -105.2705), 100_000)
SPRINGS = City("Colorado Springs", LatLng(38.8339, -104.8214), 480_000)


def warehouses(caps: tuple[int, int, int] = (400, 400, 400)) -> tuple[Warehouse, ...]:
    return (
        Warehouse("den", DENVER.location, caps[0], 30_000.0, Decimal("1.5")),
        Warehouse("bou", BOULDER.location, caps[1], 30_000.0, Decimal("1.5")),
        Warehouse("cos", SPRINGS.location, caps[2], 30_000.0, Decimal("1.5")),
    )


@pytest.fixture(scope="module")
def small_history() -> OrderHistory:
    history, _ = generate_history(
        [DENVER, BOULDER, SPRINGS],
        HistoryParams(weeks=8, n_cells=150, n_skus=8, orders_per_week=400, seed=3),
    )
    return history


class TestForecastMethods:
    Y = np.array([[0, 3, 0, 0, 6, 0]], dtype=np.float32)

    def test_seasonal_naive_repeats_the_season(self) -> None:
        y = np.array([[1, 2, 3, 1, 2, 3]], dtype=np.float32)
        assert seasonal_naive(y, 3)[0, 3:].tolist() == [1, 2, 3, 1]

    def test_ses_by_hand(self) -> None:
        # level 0 -> 0 + .5 * 3 = 1.5 -> .75 -> .375 -> 3.1875 -> 1.59375
        f = ses(self.Y, 0.5)[0]
        assert f.tolist() == pytest.approx([0, 0, 1.5, 0.75, 0.375, 3.1875, 1.59375])

    def test_croston_sba_by_hand(self) -> None:
        # first demand 3 after 2 periods: 0.75 * 3 / 2; then 6 after 3: size 4.5,
        # interval 2.5 -> 0.75 * 4.5 / 2.5
        f = croston(self.Y, 0.5)[0]
        assert f[2:5].tolist() == pytest.approx([1.125] * 3)
        assert f[5] == pytest.approx(0.75 * 4.5 / 2.5)

    def test_tsb_decays_without_demand(self) -> None:
        f = tsb(self.Y, 0.5, 0.5)[0]
        # after the first demand (t=1): p = 1/2, z = 3 -> 1.5; then p halves
        assert f[2] == pytest.approx(1.5)
        assert f[3] == pytest.approx(0.75)
        assert f[4] == pytest.approx(0.375)

    def test_choice_picks_the_method_that_backtests_best(self) -> None:
        season = np.tile(np.array([10, 0, 0, 0], dtype=np.float32), 6)
        flat = np.full(24, 4.0, dtype=np.float32)
        fc = forecast_series(
            np.stack([season, flat]),
            ForecastParams(season_length=4, backtest_origins=4),
        )
        assert fc.methods[fc.method[0]] == "seasonal_naive"
        assert fc.values[0] == pytest.approx(10.0)
        assert fc.values[1] == pytest.approx(4.0)
        scores = {s.method: s for s in fc.report.scores}
        assert scores["seasonal_naive"].mae == 0.0
        assert scores["ses"].wape > 0.0
        assert scores["auto"].series_chosen == 2

    def test_wape_and_mae_by_hand(self) -> None:
        y = np.array([[2, 2, 2, 2, 4, 0]], dtype=np.float32)
        fc = forecast_series(
            y,
            ForecastParams(
                methods=("seasonal_naive",), season_length=1, backtest_origins=2
            ),
        )
        # last 2 origins: forecasts 4 (of 0) after 2 (of 4): errors -2, +4
        (score, _auto) = fc.report.scores
        assert score.mae == pytest.approx(3.0)
        assert score.wape == pytest.approx(6.0 / 4.0)

    def test_group_loss_prefers_methods_whose_errors_cancel(self) -> None:
        # two series of one group share a trend and trade noise back and forth:
        # alone, the slow smoother's lag costs less than the naive method's
        # noise; summed, the noise cancels and the lag is all that is left
        t = np.arange(24, dtype=np.float32)
        swing = 6 * (-1.0) ** t
        y = np.stack([10 + t + swing, 10 + t - swing]).astype(np.float32)
        params = ForecastParams(
            methods=("seasonal_naive", "ses"),
            season_length=1,
            ses_alpha=0.1,
            backtest_origins=4,
        )
        alone = forecast_series(y, params)
        grouped = forecast_series(y, params, groups=np.array([0, 0]))
        assert [alone.methods[m] for m in alone.method] == ["ses", "ses"]
        assert [grouped.methods[m] for m in grouped.method] == ["seasonal_naive"] * 2
        # the summed forecast of the group: naive is exact but for the trend step
        by = {s.method: s for s in grouped.report.scores}
        assert by["seasonal_naive"].group_wape < by["ses"].group_wape
        assert all(s.group_wape is None for s in alone.report.scores)

    def test_empty_history_is_a_domain_error(self) -> None:
        with pytest.raises(EmptyHistoryError, match=r"^history: "):
            forecast_series(np.zeros((0, 5), dtype=np.float32))
        empty = OrderHistory(
            ("a",),
            *(
                np.zeros(0, dtype=t)
                for t in (np.int32, float, float, np.int32, np.int32, np.int32)
            ),
        )
        with pytest.raises(EmptyHistoryError, match=r"^history: "):
            demand_series(empty, 7)
        with pytest.raises(EmptyHistoryError):
            plan_prepositioning(empty, warehouses(), np.zeros((3, 1), dtype=np.int64))


class TestQuietWeeks:
    def test_quiet_weeks_at_the_end_of_the_window_count(self, small_history) -> None:
        # orders only in the first 4 of 8 weeks: the forecast is for week 9 and
        # decays; it is not a forecast for week 5 as if nothing had happened
        early = small_history.days(0, 28)
        quiet = OrderHistory(
            *(
                getattr(early, f)
                for f in (
                    "sku_ids",
                    "order_day",
                    "order_lat",
                    "order_lng",
                    "line_order",
                    "line_sku",
                    "line_qty",
                )
            ),
            span_days=56,
        )
        busy = forecast_demand(early, 7)
        later = forecast_demand(quiet, 7)
        assert (busy.weeks, later.weeks) == (4, 8)
        assert later.demand.sum() < 0.8 * busy.demand.sum()


class TestGenerator:
    def test_seeded_and_shaped(self, small_history: OrderHistory) -> None:
        again, _ = generate_history(
            [DENVER, BOULDER, SPRINGS],
            HistoryParams(weeks=8, n_cells=150, n_skus=8, orders_per_week=400, seed=3),
        )
        assert np.array_equal(again.line_sku, small_history.line_sku)
        assert small_history.n_days == 56
        counts = np.bincount(small_history.line_sku, minlength=8)
        assert counts[0] > counts[-1]  # Pareto popularity
        series = demand_series(small_history, 7)
        assert series.values.sum() == small_history.line_qty.sum()


def _problem(history: OrderHistory, caps: tuple[int, int, int]) -> PlacementProblem:
    fc = forecast_demand(history, 7)
    on_hand = np.full((3, len(history.sku_ids)), 20, dtype=np.int64)
    return PlacementProblem(
        warehouses(caps), history.sku_ids, on_hand, fc.cell_lat, fc.cell_lng, fc.demand
    )


class TestPlacement:
    def check(self, problem: PlacementProblem, placement) -> None:
        target = placement.target
        caps = np.array([w.capacity_units for w in problem.warehouses])
        assert (target >= 0).all()
        assert (target.sum(axis=1) <= caps).all()
        assert np.array_equal(target.sum(axis=0), problem.on_hand.sum(axis=0))
        # applying the transfers to the stock gives the target: they balance
        after = problem.on_hand.copy()
        index = {w.id: i for i, w in enumerate(problem.warehouses)}
        sku = {s: k for k, s in enumerate(problem.sku_ids)}
        for t in placement.transfers:
            assert t.units > 0 and t.from_id != t.to_id
            after[index[t.from_id], sku[t.sku]] -= t.units
            after[index[t.to_id], sku[t.sku]] += t.units
        assert np.array_equal(after, target)
        assert placement.transfer_cost_minor == sum(
            t.cost_minor for t in placement.transfers
        )

    def test_capacity_supply_and_balance(self, small_history: OrderHistory) -> None:
        problem = _problem(small_history, (200, 200, 200))
        self.check(problem, place_stock(problem))

    def test_zero_capacity_warehouse_receives_nothing(self, small_history) -> None:
        problem = _problem(small_history, (300, 0, 300))
        placement = place_stock(problem)
        self.check(problem, placement)
        assert placement.target[1].sum() == 0
        assert not [t for t in placement.transfers if t.to_id == "bou"]
        assert sum(t.units for t in placement.transfers if t.from_id == "bou") == 160

    def test_more_stock_than_capacity_is_refused(self, small_history) -> None:
        with pytest.raises(InfeasiblePlacementError, match=r"^warehouses: "):
            place_stock(_problem(small_history, (50, 50, 50)))

    def test_stock_moves_towards_demand(self, small_history) -> None:
        problem = _problem(small_history, (400, 400, 400))
        placement = place_stock(problem)
        # Denver has most demand: it ends with more stock than Boulder
        assert placement.target[0].sum() > placement.target[1].sum()

    @settings(
        max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(
        caps=st.lists(st.integers(0, 60), min_size=3, max_size=3),
        stock=st.lists(st.integers(0, 15), min_size=6, max_size=6),
        demand=st.lists(st.floats(0, 30), min_size=8, max_size=8),
    )
    def test_invariants_hold_for_any_input(self, caps, stock, demand) -> None:
        on_hand = np.array(stock, dtype=np.int64).reshape(3, 2)
        if on_hand.sum() > sum(caps):
            caps = [c + int(on_hand.sum()) for c in caps]
        lat = np.array([39.74, 40.0, 38.84, 39.5])
        lng = np.array([-104.99, -105.27, -104.82, -104.9])
        problem = PlacementProblem(
            warehouses(tuple(caps)),
            ("a", "b"),
            on_hand,
            lat,
            lng,
            np.array(demand).reshape(4, 2),
        )
        placement = place_stock(problem, PlacementParams(time_limit_s=5))
        self.check(problem, placement)
        for w, cap in enumerate(caps):
            if cap == 0:
                assert placement.target[w].sum() == 0


class TestRoundingAndBaseline:
    def test_round_keeps_totals_within_capacity(self) -> None:
        frac = np.array([[0.4, 2.6], [1.6, 0.4]])
        out = round_targets(frac, np.array([2, 3]), np.array([3, 2]))
        assert out.sum(axis=0).tolist() == [2, 3]
        assert (out.sum(axis=1) <= [3, 2]).all()

    def test_baseline_respects_capacity(self) -> None:
        share = np.array([[0.9, 0.9], [0.1, 0.1]])
        out = proportional_targets(share, np.array([10, 10]), np.array([8, 20]))
        assert out.sum(axis=0).tolist() == [10, 10]
        assert out[0].sum() <= 8

    def test_transfers_must_balance(self) -> None:
        with pytest.raises(ValueError, match=r"^target: "):
            transfers_for_targets(
                warehouses(),
                ("a",),
                np.array([[1], [0], [0]]),
                np.array([[0], [0], [0]]),
            )


class TestEvaluation:
    def test_replay_nearest_in_stock(self) -> None:
        wh = warehouses()
        week = OrderHistory(
            ("a", "b"),
            np.array([0, 1], dtype=np.int32),
            np.array([39.74, 40.01]),
            np.array([-104.99, -105.27]),
            np.array([0, 0, 1], dtype=np.int32),
            np.array([0, 1, 0], dtype=np.int32),
            np.array([1, 1, 2], dtype=np.int32),
        )
        stock = np.array([[1, 0], [0, 0], [5, 5]])
        m = replay_orders(week, wh, stock)
        # order 0: a from Denver, b from Colorado Springs (split, 110 km: late);
        # order 1 (Boulder): 2 a from Colorado Springs (outside 30 km)
        assert (m.units, m.shipped_units, m.covered_units) == (4, 4, 1)
        assert m.split_orders == 1
        assert m.coverage == pytest.approx(0.25)

    def test_plan_with_holdout_evaluation(self, small_history) -> None:
        on_hand = np.full((3, len(small_history.sku_ids)), 30, dtype=np.int64)
        result = plan_prepositioning(
            small_history, warehouses(), on_hand, PrepositioningParams()
        )
        ev = result.evaluation
        assert ev is not None
        assert 0.0 <= ev.baseline.coverage <= 1.0
        assert ev.oracle.units == ev.plan.units == ev.baseline.units > 0
        assert result.forecast.weekly.origins >= 1
        assert {s.method for s in result.forecast.weekly.scores} >= {"tsb", "auto"}
