"""Order histories and their aggregation into demand series per H3 cell and SKU.

:class:`OrderHistory` is the columnar shape both sources produce: the seeded
synthetic generator :func:`generate_history` (demo, tests, benchmark; no registry
package ships real located orders) and the repository reading placed orders from
PostGIS. :func:`demand_series` turns it into the sparse series the forecasters
read: only (cell, SKU) pairs with at least one order get a row, so 5,000 cells
times 100 SKUs never materialises 500,000 mostly-zero series.

The generator is population weighted around real US cities (the caller passes
them, e.g. GeoNames' largest US cities), draws SKU popularity from a Pareto
(Zipf-like) law, and modulates demand by day of week, by a yearly season per SKU
(with a north/south twist), by a growth trend per city and by SKU affinities per
city, so regional shares drift over the year as they do in real stores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geoengine.cells import cell_to_latlng, latlng_to_cell_array
from routing.errors import EmptyHistoryError
from routing.types import LatLng

EARTH_RADIUS_M = 6_371_008.8
#: Relative order volume Monday..Sunday (weekly seasonality of the generator).
DAY_OF_WEEK_PROFILE = (1.05, 1.0, 0.98, 1.0, 1.08, 1.02, 0.87)


@dataclass(frozen=True, slots=True)
class City:
    """A real place with its population (the weight of the cells around it)."""

    name: str
    location: LatLng
    population: int


@dataclass(frozen=True)
class OrderHistory:
    """Orders (one row each) and their lines, as parallel numpy arrays.

    ``order_day`` counts days from the first day of the history (day 0 is a
    Monday for the generator); ``line_order`` indexes the order of each line and
    ``line_sku`` indexes ``sku_ids``. ``span_days`` is the length of the window
    the orders were taken from (quiet days at its end count); without it the
    history ends with its last order.
    """

    sku_ids: tuple[str, ...]
    order_day: npt.NDArray[np.int32]
    order_lat: npt.NDArray[np.float64]
    order_lng: npt.NDArray[np.float64]
    line_order: npt.NDArray[np.int32]
    line_sku: npt.NDArray[np.int32]
    line_qty: npt.NDArray[np.int32]
    span_days: int | None = None

    @property
    def n_orders(self) -> int:
        return int(self.order_day.size)

    @property
    def n_days(self) -> int:
        if self.span_days is not None:
            return self.span_days
        return int(self.order_day.max()) + 1 if self.order_day.size else 0

    def days(self, start: int, stop: int) -> OrderHistory:
        """The orders placed on days ``start <= day < stop``, days renumbered from 0."""
        keep = (self.order_day >= start) & (self.order_day < stop)
        new_index = np.cumsum(keep, dtype=np.int64) - 1
        line_keep = keep[self.line_order]
        return OrderHistory(
            self.sku_ids,
            (self.order_day[keep] - start).astype(np.int32),
            self.order_lat[keep],
            self.order_lng[keep],
            new_index[self.line_order[line_keep]].astype(np.int32),
            self.line_sku[line_keep],
            self.line_qty[line_keep],
            max(min(stop, self.n_days) - start, 0),
        )


@dataclass(frozen=True, slots=True)
class HistoryParams:
    """What :func:`generate_history` draws.

    Parameters
    ----------
    weeks
        Length of the history in weeks (days = 7 * weeks).
    n_cells
        Distinct H3 cells that carry demand.
    n_skus
        Catalogue size.
    orders_per_week
        Expected orders in the first week (before trend and season).
    h3_res
        Resolution of the cells (6-7 suit city-scale delivery).
    pareto_shape
        Zipf exponent of SKU popularity (1.0: the top SKU sells twice the second).
    seasonal_share
        Share of SKUs with a yearly season.
    trend_sd_per_year
        Spread of the per-city yearly growth rate (log scale).
    affinity_sd
        Spread of the per-city, per-SKU taste (log scale).
    lines_per_order_mean
        Mean lines per order (1 + Poisson, at most 4).
    seed
        Everything is reproducible from it.
    """

    weeks: int = 52
    n_cells: int = 5_000
    n_skus: int = 100
    orders_per_week: int = 20_000
    h3_res: int = 7
    pareto_shape: float = 1.0
    seasonal_share: float = 0.4
    trend_sd_per_year: float = 0.5
    affinity_sd: float = 0.6
    lines_per_order_mean: float = 1.6
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("weeks", "n_cells", "n_skus", "orders_per_week"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if not 0 <= self.h3_res <= 15:
            raise ValueError("h3_res: must be in [0, 15]")
        if not 0.0 <= self.seasonal_share <= 1.0:
            raise ValueError("seasonal_share: must be in [0, 1]")
        if self.lines_per_order_mean < 1.0:
            raise ValueError("lines_per_order_mean: must be at least 1")


@dataclass(frozen=True)
class SyntheticWorld:
    """The generator's ground truth: cells, their city and the SKU catalogue."""

    cells: npt.NDArray[np.uint64]
    cell_lat: npt.NDArray[np.float64]
    cell_lng: npt.NDArray[np.float64]
    cell_city: npt.NDArray[np.int64]
    cities: tuple[City, ...]


def haversine_m(
    lat1: npt.ArrayLike, lng1: npt.ArrayLike, lat2: npt.ArrayLike, lng2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance in metres (broadcasting).

    Examples
    --------
    >>> round(float(haversine_m(40.7128, -74.006, 34.0522, -118.2437)) / 1000)
    3936
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lng2, dtype=np.float64) - np.asarray(lng1))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _place_cells(
    cities: Sequence[City], params: HistoryParams, rng: np.random.Generator
) -> SyntheticWorld:
    pop = np.array([c.population for c in cities], dtype=np.float64)
    lat0 = np.array([c.location.lat for c in cities])
    lng0 = np.array([c.location.lng for c in cities])
    # metro spread grows with population: ~4 km for 100k people, ~25 km for 8M
    sigma_m = 4_000.0 * (pop / 1e5) ** 0.4
    share = pop**0.8 / (pop**0.8).sum()
    cells = np.empty(0, dtype=np.uint64)
    lat = np.empty(0)
    lng = np.empty(0)
    city = np.empty(0, dtype=np.int64)
    want = params.n_cells
    for _ in range(50):  # oversample until enough distinct cells
        n = max(2 * (want - cells.size), 64)
        who = rng.choice(len(cities), size=n, p=share)
        r = np.abs(rng.normal(0.0, 1.0, n)) * sigma_m[who]
        theta = rng.uniform(0, 2 * math.pi, n)
        plat = lat0[who] + (r * np.cos(theta)) / 111_320.0
        plng = lng0[who] + (r * np.sin(theta)) / (
            111_320.0 * np.cos(np.radians(lat0[who]))
        )
        new = latlng_to_cell_array(plat, plng, params.h3_res)
        cells = np.concatenate([cells, new])
        lat = np.concatenate([lat, plat])
        lng = np.concatenate([lng, plng])
        city = np.concatenate([city, who])
        _, first = np.unique(cells, return_index=True)
        first.sort()
        cells, lat, lng, city = cells[first], lat[first], lng[first], city[first]
        if cells.size >= want:
            break
    cells = cells[:want]
    centres = [cell_to_latlng(int(c)) for c in cells]
    return SyntheticWorld(
        cells,
        np.array([c.lat for c in centres]),
        np.array([c.lng for c in centres]),
        city[:want],
        tuple(cities),
    )


def generate_history(
    cities: Sequence[City], params: HistoryParams | None = None
) -> tuple[OrderHistory, SyntheticWorld]:
    """Draw a seeded order history; see the module docstring for the model.

    Parameters
    ----------
    cities
        Real places with populations (at least one).
    params
        Sizes, shapes and the seed.

    Returns
    -------
    (OrderHistory, SyntheticWorld)
        The orders (points jittered inside their cell's neighbourhood) and the
        generator's cells.

    Examples
    --------
    >>> nyc = City("New York", LatLng(40.71, -74.01), 8_000_000)
    >>> h, world = generate_history([nyc], HistoryParams(weeks=2, n_cells=50,
    ...     n_skus=5, orders_per_week=300, seed=1))
    >>> h.n_days, world.cells.size, h.sku_ids[0]
    (14, 50, 'SKU-000')
    """
    params = params or HistoryParams()
    if not cities:
        raise ValueError("cities: at least one city is needed")
    rng = np.random.default_rng(params.seed)
    world = _place_cells(cities, params, rng)
    n_cells, n_cities, n_skus, weeks = (
        world.cells.size,
        len(cities),
        params.n_skus,
        params.weeks,
    )
    # cell weight: its city's population spread over the city's cells, noisy
    pop = np.array([c.population for c in cities], dtype=np.float64)
    cells_per_city = np.bincount(world.cell_city, minlength=n_cities).astype(float)
    w_cell = pop[world.cell_city] / cells_per_city[world.cell_city]
    w_cell *= rng.lognormal(0.0, 0.7, n_cells)
    w_cell /= w_cell.sum()
    # per-city growth and per-city SKU taste
    growth = rng.normal(0.0, params.trend_sd_per_year, n_cities)
    t_week = np.arange(weeks + 1, dtype=np.float64)
    trend = np.exp(np.outer(growth, t_week / 52.0))  # (city, week)
    popularity = 1.0 / np.arange(1, n_skus + 1) ** params.pareto_shape
    affinity = rng.lognormal(0.0, params.affinity_sd, (n_cities, n_skus))
    # yearly season of some SKUs, mirrored between north and south
    seasonal = rng.random(n_skus) < params.seasonal_share
    amplitude = np.where(seasonal, rng.uniform(0.3, 0.8, n_skus), 0.0)
    phase = rng.uniform(0, 2 * math.pi, n_skus)
    lat_city = np.array([c.location.lat for c in cities])
    north = np.where(lat_city >= 37.0, 1.0, -1.0)  # (city,)
    season = 1.0 + amplitude[None, None, :] * north[:, None, None] * np.sin(
        2 * math.pi * t_week[None, :, None] / 52.0 + phase[None, None, :]
    )  # (city, week, sku)
    sku_p = popularity[None, None, :] * affinity[:, None, :] * season
    city_volume = sku_p.sum(axis=2)  # relative volume of each city-week
    sku_p /= city_volume[:, :, None]
    city_volume /= city_volume[:, :1].mean()
    # orders per (cell, week): Poisson around the weighted, trending volume
    lam = (
        params.orders_per_week
        * w_cell[:, None]
        * trend[world.cell_city, :weeks]
        * city_volume[world.cell_city, :weeks]
    )
    counts = rng.poisson(lam)  # (cell, week)
    cell_idx, week_idx = np.nonzero(counts)
    reps = counts[cell_idx, week_idx]
    o_cell = np.repeat(cell_idx, reps)
    o_week = np.repeat(week_idx, reps)
    dow = np.asarray(DAY_OF_WEEK_PROFILE)
    o_day = o_week * 7 + rng.choice(7, size=o_cell.size, p=dow / dow.sum())
    order = np.argsort(o_day, kind="stable")
    o_cell, o_week, o_day = o_cell[order], o_week[order], o_day[order]
    n_orders = o_cell.size
    # jitter around the cell centre, staying inside it (res 7 cells: ~1 km inradius)
    jitter_m = 30.0 * 7.0 ** ((7 - params.h3_res) / 2.0)
    o_lat = world.cell_lat[o_cell] + rng.normal(0, jitter_m, n_orders) / 111_320.0
    o_lng = world.cell_lng[o_cell] + rng.normal(0, jitter_m, n_orders) / (
        111_320.0 * np.cos(np.radians(world.cell_lat[o_cell]))
    )
    # lines: 1 + Poisson, at most 4; SKUs drawn per (city, week) by inverse CDF
    n_lines = np.minimum(
        1 + rng.poisson(params.lines_per_order_mean - 1.0, n_orders), 4
    )
    line_order = np.repeat(np.arange(n_orders, dtype=np.int32), n_lines)
    l_group = (world.cell_city[o_cell] * weeks + o_week)[line_order]
    cdf = np.cumsum(sku_p[:, :weeks, :], axis=2).reshape(-1, n_skus)
    cdf[:, -1] = 1.0
    u = rng.random(line_order.size)
    line_sku = np.empty(line_order.size, dtype=np.int32)
    # group lines by city-week once, then searchsorted inside each group
    by_group = np.argsort(l_group, kind="stable")
    bounds = np.flatnonzero(np.diff(l_group[by_group])) + 1
    for chunk in np.split(by_group, bounds):
        g = l_group[chunk[0]]
        line_sku[chunk] = np.searchsorted(cdf[g], u[chunk], side="right")
    np.minimum(line_sku, n_skus - 1, out=line_sku)
    line_qty = (1 + (rng.random(line_order.size) < 0.2)).astype(np.int32)
    history = OrderHistory(
        tuple(f"SKU-{k:03d}" for k in range(n_skus)),
        o_day.astype(np.int32),
        o_lat,
        o_lng,
        line_order,
        line_sku,
        line_qty,
        weeks * 7,
    )
    return history, world


@dataclass(frozen=True)
class DemandSeries:
    """Sparse demand per (cell, SKU): one row per pair with any demand.

    ``values[i, t]`` is the units of ``sku_ids[sku[i]]`` ordered from
    ``cells[cell[i]]`` in period ``t``; pairs without a row had no demand.
    """

    cells: npt.NDArray[np.uint64]
    sku_ids: tuple[str, ...]
    cell: npt.NDArray[np.int64]
    sku: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]
    period_days: int

    @property
    def n_periods(self) -> int:
        return int(self.values.shape[1])


def demand_series(
    history: OrderHistory,
    h3_res: int,
    *,
    period_days: int = 7,
    n_periods: int | None = None,
) -> DemandSeries:
    """Aggregate order lines into units per (H3 cell, SKU, period).

    Parameters
    ----------
    history
        The orders.
    h3_res
        Resolution of the cells.
    period_days
        7 for weekly series, 1 for daily.
    n_periods
        Number of periods (default: as many as the history spans, whole periods).

    Raises
    ------
    EmptyHistoryError
        When the history holds no order line.
    """
    if history.line_order.size == 0:
        raise EmptyHistoryError("history: no orders to learn from")
    if n_periods is None:
        n_periods = max(history.n_days // period_days, 1)
    order_cell = latlng_to_cell_array(history.order_lat, history.order_lng, h3_res)
    cells, cell_of_order = np.unique(order_cell, return_inverse=True)
    period = history.order_day[history.line_order] // period_days
    keep = period < n_periods
    n_skus = len(history.sku_ids)
    key = (
        cell_of_order[history.line_order[keep]].astype(np.int64) * n_skus
        + (history.line_sku[keep])
    )
    pairs, row = np.unique(key, return_inverse=True)
    if pairs.size == 0:
        raise EmptyHistoryError("history: no orders within the periods asked for")
    flat = np.bincount(
        row * n_periods + period[keep],
        weights=history.line_qty[keep],
        minlength=pairs.size * n_periods,
    )
    return DemandSeries(
        cells,
        history.sku_ids,
        pairs // n_skus,
        pairs % n_skus,
        flat.reshape(pairs.size, n_periods).astype(np.float32),
        period_days,
    )


def demand_matrix(
    history: OrderHistory, cells: npt.NDArray[np.uint64], h3_res: int
) -> npt.NDArray[np.float64]:
    """Units per (cell of ``cells``, SKU) over the whole history (other cells dropped)."""
    n_skus = len(history.sku_ids)
    out = np.zeros((cells.size, n_skus))
    if history.line_order.size == 0 or cells.size == 0:
        return out
    order_cell = latlng_to_cell_array(history.order_lat, history.order_lng, h3_res)
    pos = np.searchsorted(cells, order_cell)
    pos = np.minimum(pos, cells.size - 1)
    known = cells[pos] == order_cell
    line_pos = pos[history.line_order]
    line_known = known[history.line_order]
    np.add.at(
        out,
        (line_pos[line_known], history.line_sku[line_known]),
        history.line_qty[line_known],
    )
    return out
