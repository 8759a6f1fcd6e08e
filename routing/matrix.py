"""Travel matrices: great-circle default, OSRM-compatible ``table`` provider, cache.

A :class:`TravelMatrix` holds distances in metres and durations in seconds
between the points of a problem, row = origin, column = destination. Values may
be fractional (caller-supplied or planar benchmark matrices); the solver scales
them to integers itself.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import numpy as np

from routing.errors import MatrixError
from routing.ports import MatrixCache, MatrixProvider
from routing.types import LatLng

EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True, eq=False)
class TravelMatrix:
    """Distances (metres) and durations (seconds) between ``n`` points."""

    distance_m: np.ndarray
    duration_s: np.ndarray

    def __post_init__(self) -> None:
        d = np.asarray(self.distance_m, dtype=np.float64)
        t = np.asarray(self.duration_s, dtype=np.float64)
        if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape != t.shape:
            raise MatrixError(
                f"distance_m {d.shape} and duration_s {t.shape} must be equal squares"
            )
        if not (np.isfinite(d).all() and np.isfinite(t).all()):
            raise MatrixError("matrix holds NaN or infinite values (unreachable?)")
        if (d < 0).any() or (t < 0).any():
            raise MatrixError("matrix holds negative values")
        d.setflags(write=False)
        t.setflags(write=False)
        object.__setattr__(self, "distance_m", d)
        object.__setattr__(self, "duration_s", t)

    @property
    def size(self) -> int:
        """Number of points (rows)."""
        return int(self.distance_m.shape[0])

    def take(self, rows: Sequence[int]) -> TravelMatrix:
        """Return the sub-matrix over ``rows`` (in that order)."""
        idx = np.asarray(rows, dtype=np.intp)
        return TravelMatrix(
            self.distance_m[np.ix_(idx, idx)], self.duration_s[np.ix_(idx, idx)]
        )


def haversine_matrix_m(points: Sequence[LatLng]) -> np.ndarray:
    """Great-circle distances in metres between all pairs of ``points``.

    Parameters
    ----------
    points
        Positions in degrees.

    Returns
    -------
    numpy.ndarray
        Square float64 array, zero diagonal.

    Examples
    --------
    >>> m = haversine_matrix_m([LatLng(0.0, 0.0), LatLng(0.0, 1.0)])
    >>> round(float(m[0, 1]))
    111195
    """
    lat = np.radians(np.array([p.lat for p in points], dtype=np.float64))
    lng = np.radians(np.array([p.lng for p in points], dtype=np.float64))
    dlat = lat[:, None] - lat[None, :]
    dlng = lng[:, None] - lng[None, :]
    a = (
        np.sin(dlat / 2) ** 2
        + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlng / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(frozen=True, slots=True)
class SpeedProfile:
    """Average road speed by trip length: short trips are slower (town streets).

    ``bands`` is a sequence of ``(up_to_m, speed_kmh)`` sorted by distance; trips
    longer than the last band use ``cruise_kmh``.
    """

    cruise_kmh: float = 60.0
    bands: tuple[tuple[float, float], ...] = ((2_000.0, 25.0), (10_000.0, 40.0))

    def duration_s(self, distance_m: np.ndarray) -> np.ndarray:
        """Integer seconds (rounded up) to drive ``distance_m``."""
        speed = np.full(distance_m.shape, self.cruise_kmh, dtype=np.float64)
        for up_to_m, kmh in reversed(self.bands):
            speed = np.where(distance_m <= up_to_m, kmh, speed)
        return np.ceil(distance_m / (speed / 3.6))


@dataclass(frozen=True, slots=True)
class GreatCircleProvider:
    """Haversine distance times a detour factor, durations from a speed profile.

    Distances are rounded to whole metres and durations to whole seconds.
    """

    detour_factor: float = 1.3
    profile: SpeedProfile = field(default_factory=SpeedProfile)
    name: str = "great-circle"

    def matrix(self, points: Sequence[LatLng]) -> TravelMatrix:
        """Return the great-circle based matrix for ``points``."""
        if not math.isfinite(self.detour_factor) or self.detour_factor < 1.0:
            raise ValueError(f"detour_factor must be >= 1, got {self.detour_factor}")
        dist = np.rint(haversine_matrix_m(points) * self.detour_factor)
        return TravelMatrix(dist, self.profile.duration_s(dist))


class OsrmTableProvider:
    """Matrix from an OSRM-compatible ``/table`` HTTP service.

    Parameters
    ----------
    base_url
        Root of the service, e.g. ``http://router:5000``.
    profile
        Routing profile in the URL (``driving``).
    client
        An ``httpx.Client``; tests pass one built on ``httpx.MockTransport``.
    timeout_s
        Per-request timeout when this provider builds its own client.
    """

    name = "osrm"

    def __init__(
        self,
        base_url: str,
        *,
        profile: str = "driving",
        client: httpx.Client | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self._client = client or httpx.Client(timeout=timeout_s)

    def matrix(self, points: Sequence[LatLng]) -> TravelMatrix:
        """Query the service once for all pairs of ``points``."""
        coords = ";".join(f"{p.lng:.6f},{p.lat:.6f}" for p in points)
        url = f"{self.base_url}/table/v1/{self.profile}/{coords}"
        try:
            resp = self._client.get(url, params={"annotations": "duration,distance"})
            resp.raise_for_status()
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise MatrixError(f"table service request failed: {exc}") from exc
        if body.get("code") != "Ok":
            raise MatrixError(f"table service answered code={body.get('code')!r}")
        try:
            durations = body["durations"]
            distances = body["distances"]
        except KeyError as exc:
            raise MatrixError(f"table service answer lacks {exc}") from exc
        for i, row in enumerate(durations):
            for j, v in enumerate(row):
                if v is None or distances[i][j] is None:
                    raise MatrixError(f"no route from point {i} to point {j}")
        return TravelMatrix(
            np.rint(np.array(distances, dtype=np.float64)),
            np.ceil(np.array(durations, dtype=np.float64)),
        )


class InMemoryMatrixCache:
    """A dict-backed :class:`MatrixCache`, for tests and single processes."""

    def __init__(self) -> None:
        self._data: dict[str, TravelMatrix] = {}

    def get(self, key: str) -> TravelMatrix | None:
        """Return the cached matrix or ``None``."""
        return self._data.get(key)

    def put(self, key: str, matrix: TravelMatrix) -> None:
        """Store ``matrix`` under ``key``."""
        self._data[key] = matrix


def matrix_cache_key(
    points: Sequence[LatLng], provider_name: str, *, decimals: int = 5
) -> str:
    """Key for a matrix: provider name plus the coordinates rounded to ``decimals``.

    Five decimals is about 1 m, well inside what a router snaps to.

    Examples
    --------
    >>> a = matrix_cache_key([LatLng(1.000001, 2.0)], "osrm")
    >>> a == matrix_cache_key([LatLng(1.000002, 2.0)], "osrm")
    True
    """
    text = ";".join(f"{p.lat:.{decimals}f},{p.lng:.{decimals}f}" for p in points)
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"routing:matrix:{provider_name}:{len(points)}:{digest}"


class CachedProvider:
    """Wraps a provider with a :class:`MatrixCache` keyed by rounded coordinates."""

    def __init__(self, provider: MatrixProvider, cache: MatrixCache) -> None:
        self.provider = provider
        self.cache = cache
        self.name = provider.name

    def matrix(self, points: Sequence[LatLng]) -> TravelMatrix:
        """Return the cached matrix, or ask the provider and cache its answer."""
        key = matrix_cache_key(points, self.provider.name)
        hit = self.cache.get(key)
        if hit is not None and hit.size == len(points):
            return hit
        m = self.provider.matrix(points)
        if m.size != len(points):
            raise MatrixError(f"provider gave {m.size} rows for {len(points)} points")
        self.cache.put(key, m)
        return m
