"""Small value types shared by the routing modules."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LatLng:
    """A WGS84 position in degrees.

    ``geoengine`` will own the project-wide ``LatLng``; this one has the same
    shape (``lat``, ``lng``) so the two are interchangeable. It does not validate
    on construction: the problem builder reports bad coordinates per item.
    """

    lat: float
    lng: float

    def is_valid(self) -> bool:
        """Return whether both coordinates are finite and within range."""
        return (
            math.isfinite(self.lat)
            and math.isfinite(self.lng)
            and -90.0 <= self.lat <= 90.0
            and -180.0 <= self.lng <= 180.0
        )


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A closed interval of times in seconds from the planning epoch."""

    start_s: int
    end_s: int

    def contains(self, t_s: float) -> bool:
        """Return whether ``t_s`` lies within the window (bounds included)."""
        return self.start_s <= t_s <= self.end_s


#: Where a stop is: a coordinate, or a row of a caller-supplied travel matrix.
Location = LatLng | int
