"""Extension points of the routing package: ``Protocol`` classes.

Adapters live elsewhere: the Redis matrix cache in ``routing/state.py`` (the
lead's), HTTP matrix providers in :mod:`routing.matrix`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from routing.matrix import TravelMatrix
    from routing.types import LatLng


class MatrixProvider(Protocol):
    """Gives a travel matrix for a list of points (row order = point order)."""

    name: str

    def matrix(self, points: Sequence[LatLng]) -> TravelMatrix:
        """Return distances and durations between ``points``."""
        ...


class MatrixCache(Protocol):
    """Stores matrices by key (the Redis implementation lives in ``state.py``)."""

    def get(self, key: str) -> TravelMatrix | None:
        """Return the cached matrix or ``None``."""
        ...

    def put(self, key: str, matrix: TravelMatrix) -> None:
        """Store ``matrix`` under ``key``."""
        ...
