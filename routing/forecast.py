"""Demand forecasts per series, chosen per series by a rolling-origin backtest.

Methods (all one step ahead, vectorised across series; time is the only loop):

- ``seasonal_naive``: the value one season ago (``season_length`` periods), or
  the last value while the series is shorter than a season (it is only a
  candidate when a whole season precedes the backtest window);
- ``ses``: simple exponential smoothing with smoothing ``ses_alpha``;
- ``croston``: Croston's method with the Syntetos-Boylan bias correction (SBA),
  for intermittent demand: sizes and intervals smoothed separately;
- ``tsb``: Teunter-Syntetos-Babai: demand probability smoothed every period and
  size smoothed on demand periods, so obsolescence decays the forecast.

Rolling origin: because the methods are recursive with fixed parameters, the
one-step forecast of period ``t`` computed in one pass uses only periods
``< t``; the forecasts of the last ``2 * backtest_origins`` periods are exactly
those of refitting at each origin. The earlier half of the window picks each
series' method (lowest MAE); the later half scores every method and the
per-series choice (MAE per series averaged, and WAPE = sum |error| / sum actual,
not MAPE, which is undefined on zeros). The final choice uses the whole window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.errors import EmptyHistoryError

METHODS = ("seasonal_naive", "ses", "croston", "tsb")
Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class ForecastParams:
    """Forecasting parameters (season in periods: 52 for weekly, 7 for daily)."""

    methods: tuple[str, ...] = METHODS
    season_length: int = 52
    ses_alpha: float = 0.3
    croston_alpha: float = 0.1
    tsb_alpha_size: float = 0.1
    tsb_alpha_prob: float = 0.1
    backtest_origins: int = 8
    #: on equal backtest MAE (common on sparse series), the first of these wins
    tie_break: tuple[str, ...] = ("tsb", "ses", "croston", "seasonal_naive")
    #: per-series choice by backtest ``mae`` or ``mse`` (the mean, which placement
    #: needs; MAE rewards forecasting the median, i.e. zero on sparse series)
    selection: str = "mse"
    #: with ``groups``: weight of the group's aggregate loss in a series' loss (0..1)
    group_shrink: float = 0.5

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in METHODS]
        if not self.methods or unknown:
            raise ValueError(f"methods: choose among {', '.join(METHODS)}")
        if self.season_length < 1:
            raise ValueError("season_length: must be at least 1")
        for name in ("ses_alpha", "croston_alpha", "tsb_alpha_size", "tsb_alpha_prob"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be in (0, 1]")
        if self.selection not in ("mae", "mse"):
            raise ValueError("selection: must be 'mae' or 'mse'")
        if self.backtest_origins < 1:
            raise ValueError("backtest_origins: must be at least 1")


def seasonal_naive(y: Array, season_length: int) -> Array:
    """One-step forecasts ``f[:, t]`` of ``y[:, t]`` for t = 0..T (T+1 columns).

    Examples
    --------
    >>> seasonal_naive(np.array([[1, 2, 3, 4]], dtype=np.float32), 2).tolist()
    [[0.0, 1.0, 1.0, 2.0, 3.0]]
    """
    n, t_len = y.shape
    f = np.zeros((n, t_len + 1), dtype=np.float32)
    for t in range(1, t_len + 1):
        f[:, t] = y[:, t - season_length] if t >= season_length else y[:, t - 1]
    return f


def ses(y: Array, alpha: float) -> Array:
    """Simple exponential smoothing, level started at the first value.

    Examples
    --------
    >>> ses(np.array([[4, 0, 2]], dtype=np.float32), 0.5).tolist()
    [[0.0, 4.0, 2.0, 2.0]]
    """
    n, t_len = y.shape
    f = np.zeros((n, t_len + 1), dtype=np.float32)
    if t_len == 0:
        return f
    level = y[:, 0].copy()
    f[:, 1] = level
    for t in range(1, t_len):
        level += alpha * (y[:, t] - level)
        f[:, t + 1] = level
    return f


def croston(y: Array, alpha: float) -> Array:
    """Croston's method with the SBA correction ``(1 - alpha/2) * size / interval``.

    Size and interval start at the first demand (interval = periods up to it).

    Examples
    --------
    >>> croston(np.array([[0, 2, 0, 4]], dtype=np.float32), 0.5).round(3).tolist()
    [[0.0, 0.0, 0.75, 0.75, 1.125]]
    """
    n, t_len = y.shape
    f = np.zeros((n, t_len + 1), dtype=np.float32)
    size = np.zeros(n, dtype=np.float32)
    interval = np.ones(n, dtype=np.float32)
    since = np.zeros(n, dtype=np.float32)  # periods since the last demand
    started = np.zeros(n, dtype=bool)
    corr = 1.0 - alpha / 2.0
    for t in range(t_len):
        since += 1.0
        yt = y[:, t]
        hit = yt > 0
        first = hit & ~started
        upd = hit & started
        size[first] = yt[first]
        interval[first] = since[first]
        size[upd] += alpha * (yt[upd] - size[upd])
        interval[upd] += alpha * (since[upd] - interval[upd])
        since[hit] = 0.0
        started |= hit
        f[:, t + 1] = np.where(started, corr * size / interval, 0.0)
    return f


def tsb(y: Array, alpha_size: float, alpha_prob: float) -> Array:
    """Teunter-Syntetos-Babai: ``probability * size``, probability updated each period.

    Examples
    --------
    >>> tsb(np.array([[0, 2, 0, 0]], dtype=np.float32), 0.5, 0.5).tolist()
    [[0.0, 0.0, 1.0, 0.5, 0.25]]
    """
    n, t_len = y.shape
    f = np.zeros((n, t_len + 1), dtype=np.float32)
    size = np.zeros(n, dtype=np.float32)
    prob = np.zeros(n, dtype=np.float32)
    started = np.zeros(n, dtype=bool)
    for t in range(t_len):
        yt = y[:, t]
        hit = yt > 0
        first = hit & ~started
        size[first] = yt[first]
        prob[first] = 1.0 / (t + 1)
        upd = started
        prob[upd] += alpha_prob * (hit[upd].astype(np.float32) - prob[upd])
        grow = hit & started
        size[grow] += alpha_size * (yt[grow] - size[grow])
        started |= hit
        f[:, t + 1] = prob * size
    return f


def _runner(method: str, p: ForecastParams) -> Callable[[Array], Array]:
    if method == "seasonal_naive":
        return lambda y: seasonal_naive(y, p.season_length)
    if method == "ses":
        return lambda y: ses(y, p.ses_alpha)
    if method == "croston":
        return lambda y: croston(y, p.croston_alpha)
    return lambda y: tsb(y, p.tsb_alpha_size, p.tsb_alpha_prob)


@dataclass(frozen=True, slots=True)
class MethodScore:
    """Backtest accuracy of one method (or of the per-series choice, ``auto``)."""

    method: str
    mae: float
    wape: float
    bias: float
    series_chosen: int
    #: WAPE of the groups' summed forecasts (when series were grouped)
    group_wape: float | None = None

    def to_json(self) -> dict[str, float | int | str | None]:
        return {
            "method": self.method,
            "mae": round(self.mae, 6),
            "wape": round(self.wape, 6),
            "bias": round(self.bias, 6),
            "group_wape": (
                round(self.group_wape, 6) if self.group_wape is not None else None
            ),
            "series_chosen": self.series_chosen,
        }


@dataclass(frozen=True)
class BacktestReport:
    """Per-method scores on the last ``origins`` periods of a rolling-origin backtest."""

    origins: int
    series: int
    actual_units: float
    scores: tuple[MethodScore, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "origins": self.origins,
            "series": self.series,
            "actual_units": round(self.actual_units, 3),
            "methods": [s.to_json() for s in self.scores],
        }


@dataclass(frozen=True)
class SeriesForecast:
    """Next-period forecast per series, the method chosen for each, and the report."""

    values: npt.NDArray[np.float64]
    method: npt.NDArray[np.int64]
    methods: tuple[str, ...]
    report: BacktestReport


def _score(
    name: str,
    err: Array,
    actual: Array,
    chosen: int,
    groups: npt.NDArray[np.int64] | None,
) -> MethodScore:
    total = float(actual.sum())
    abs_err = np.abs(err)
    group_wape = None
    if groups is not None and total > 0:
        n_groups = int(groups.max()) + 1
        summed = sum(
            np.abs(np.bincount(groups, weights=err[:, c], minlength=n_groups)).sum()
            for c in range(err.shape[1])
        )
        group_wape = float(summed) / total
    return MethodScore(
        name,
        float(abs_err.mean()) if err.size else 0.0,
        float(abs_err.sum()) / total if total > 0 else 0.0,
        float(err.sum()) / total if total > 0 else 0.0,
        chosen,
        group_wape,
    )


def _loss(err: Array, selection: str, count: Array | None) -> Array:
    """Per-period loss; with ``count`` (series summed), scaled back to one series
    so that independent errors score as they would alone."""
    if selection == "mae":
        out = np.abs(err)
        return out if count is None else out / np.sqrt(count)
    out = err * err
    return out if count is None else out / count


def _group_loss(err: Array, groups: npt.NDArray[np.int64], selection: str) -> Array:
    """Each series' share of its group's loss on the group's *summed* errors.

    Errors that cancel within the group (noise) score low; errors shared by the
    group (a forecast lagging a trend) score high: that is what a placement made
    on aggregated demand pays for.
    """
    n_groups = int(groups.max()) + 1
    count = np.bincount(groups, minlength=n_groups).astype(np.float32)
    summed = np.stack(
        [
            np.bincount(groups, weights=err[:, c], minlength=n_groups)
            for c in range(err.shape[1])
        ],
        axis=1,
    ).astype(np.float32)
    return _loss(summed, selection, np.maximum(count, 1.0)[:, None])[groups]


def forecast_series(
    values: Array,
    params: ForecastParams | None = None,
    *,
    groups: npt.NDArray[np.int64] | None = None,
) -> SeriesForecast:
    """Forecast the next period of each row of ``values`` (series x periods).

    Parameters
    ----------
    values
        Demand per series and period, oldest first; at least one period.
    params
        Methods, their parameters and the backtest window.
    groups
        Optional group per series (e.g. its SKU): the backtest loss of a series
        is shrunk towards its group's mean loss (``group_shrink``) before choosing, which
        steadies the choice on sparse, noisy series.

    Returns
    -------
    SeriesForecast
        ``values[i]`` is the chosen method's forecast of period T for series i.

    Raises
    ------
    EmptyHistoryError
        When there is no series or no period.

    Examples
    --------
    >>> y = np.array([[5, 5, 5, 5, 5, 5, 5, 5, 5, 5]], dtype=np.float32)
    >>> fc = forecast_series(y, ForecastParams(season_length=4, backtest_origins=2))
    >>> float(fc.values[0]), fc.report.scores[0].mae
    (5.0, 0.0)
    """
    params = params or ForecastParams()
    y = np.ascontiguousarray(values, dtype=np.float32)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise EmptyHistoryError("history: no demand series to forecast")
    n, t_len = y.shape
    k = min(params.backtest_origins, max((t_len - 1) // 2, 0))
    methods = params.methods
    if t_len < params.season_length + 2 * k and len(methods) > 1:
        # no whole season before the backtest window: "seasonal naive" would only
        # be the naive last value, so it is not offered (the report omits it)
        methods = tuple(m for m in methods if m != "seasonal_naive") or methods
    next_value = np.empty((len(methods), n), dtype=np.float32)
    sel_mae = np.zeros((len(methods), n), dtype=np.float32)
    all_mae = np.zeros((len(methods), n), dtype=np.float32)
    errors: list[Array] = []
    for m, name in enumerate(methods):
        f = _runner(name, params)(y)
        next_value[m] = f[:, t_len]
        if k:
            err = f[:, t_len - 2 * k : t_len] - y[:, t_len - 2 * k :]
            loss = _loss(err, params.selection, None)
            if groups is not None:
                a = params.group_shrink
                loss = (1 - a) * loss + a * _group_loss(err, groups, params.selection)
            sel_mae[m] = loss[:, :k].mean(axis=1)
            all_mae[m] = loss.mean(axis=1)
            errors.append(err[:, k:])
    if not k:  # too short to backtest: the first method, no scores
        chosen = np.zeros(n, dtype=np.int64)
        report = BacktestReport(0, n, 0.0, ())
        return SeriesForecast(next_value[0].astype(np.float64), chosen, methods, report)
    # ties go to the method preferred by ``tie_break`` (a negligible nudge)
    order = [
        params.tie_break.index(m) if m in params.tie_break else 99 for m in methods
    ]
    nudge = np.asarray(order, dtype=np.float32)[:, None] * 1e-6
    pick_eval = np.argmin(sel_mae + nudge, axis=0)
    chosen = np.argmin(all_mae + nudge, axis=0)
    actual = y[:, t_len - k :]
    auto_err = np.take_along_axis(np.stack(errors), pick_eval[None, :, None], 0)[0]
    scores = [
        _score(name, errors[m], actual, int((chosen == m).sum()), groups)
        for m, name in enumerate(methods)
    ]
    scores.append(_score("auto", auto_err, actual, n, groups))
    report = BacktestReport(k, n, float(actual.sum()), tuple(scores))
    values_out = next_value[chosen, np.arange(n)].astype(np.float64)
    return SeriesForecast(np.maximum(values_out, 0.0), chosen, methods, report)
