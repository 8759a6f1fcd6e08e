"""Result types of jurisdiction resolution: quality, policy, status, answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from tax_zones.errors import AmbiguousJurisdictionError
from tax_zones.index import IndexParams
from tax_zones.types import JurisdictionRef


class Quality(StrEnum):
    """How precisely the location was placed (finest first)."""

    ROOFTOP = "rooftop"
    GPS = "gps"
    POSTAL_CENTROID = "postal_centroid"
    IP_CITY = "ip_city"
    COUNTRY = "country"


class Policy(StrEnum):
    """What to do when the uncertainty disc crosses a border."""

    MOST_LIKELY = "most_likely"
    HIGHEST_RATE = "highest_rate"
    REQUIRE_PRECISE_LOCATION = "require_precise_location"
    SPLIT = "split"


class Status(StrEnum):
    """Outcome of one resolution."""

    RESOLVED = "resolved"
    NO_JURISDICTION = "no_jurisdiction"
    NEEDS_PRECISE_LOCATION = "needs_precise_location"


@dataclass(frozen=True)
class ResolverParams:
    """Parameters of :class:`JurisdictionResolver`.

    Attributes
    ----------
    index : IndexParams
        H3 index resolution and sampling.
    border_search_m : float
        How far to look for the nearest internal border, in metres.
    rooftop_max_m : float
        Largest accuracy radius still graded ``rooftop`` (else ``gps``).
    disc_vertices : int
        Vertices of the geodesic uncertainty disc.
    policy : Policy
        Default policy when a call names none.
    """

    index: IndexParams = field(default_factory=IndexParams)
    border_search_m: float = 50_000.0
    rooftop_max_m: float = 25.0
    disc_vertices: int = 64
    policy: Policy = Policy.MOST_LIKELY


@dataclass(frozen=True)
class Candidate:
    """One possible jurisdiction stack and its share of the covered disc."""

    share: float
    jurisdictions: tuple[JurisdictionRef, ...]


@dataclass(frozen=True)
class Resolution:
    """The answer for one location (see the module docstring)."""

    status: Status
    jurisdictions: tuple[JurisdictionRef, ...]
    quality: Quality
    border_distance_m: float | None
    ambiguous: bool
    candidates: tuple[Candidate, ...]
    policy: Policy
    accuracy_m: float | None  # None: the input had no radius (country only)
    boundary_error_m: float
    outside_share: float
    sources: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def raise_for_status(self) -> Resolution:
        """Raise :class:`AmbiguousJurisdictionError` when precision was required."""
        if self.status is Status.NEEDS_PRECISE_LOCATION:
            raise AmbiguousJurisdictionError(
                "location: the uncertainty disc crosses a border and the policy "
                "require_precise_location needs a more precise position",
                self.candidates,
            )
        return self


RateOf = Callable[[tuple[JurisdictionRef, ...]], Decimal]
