"""Ports: what the tax service needs from storage and other packages.

The lead's ``repository.py`` (PostGIS) and ``state.py`` implement these;
unit tests pass in-memory fakes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from tax_zones.ledger import Reversal, Sale
from tax_zones.quotes import Quote, Registration
from tax_zones.rates import Rate
from tax_zones.types import Jurisdiction, Level


class JurisdictionStore(Protocol):
    """Global jurisdiction boundaries (PostGIS)."""

    def list_jurisdictions(
        self, levels: Sequence[Level] | None = None
    ) -> list[Jurisdiction]:
        """All jurisdictions (of some levels), with MultiPolygons in EPSG:4326."""
        ...

    def data_version(self) -> str:
        """A token that changes with the boundaries (index refresh, cache key)."""
        ...


class RateStore(Protocol):
    """Effective-dated rate rows."""

    def list_rates(self) -> Iterable[Rate]:
        """Every rate row."""
        ...


class RegistrationStore(Protocol):
    """A tenant's tax registrations."""

    def registrations(self, tenant_id: str) -> Sequence[Registration]:
        """Registrations of a tenant (any validity)."""
        ...


class QuoteStore(Protocol):
    """Quotes, their commitment to orders, and reversals."""

    def save_quote(self, tenant_id: str, quote: Quote) -> None:
        """Store a quote until its expiry."""
        ...

    def get_quote(self, tenant_id: str, quote_id: str) -> Quote | None:
        """A stored quote (None when unknown or expired)."""
        ...

    def commit_quote(self, tenant_id: str, quote_id: str, order_id: str) -> Quote:
        """Attach a quote to an order; it then counts for liability."""
        ...

    def save_reversal(self, tenant_id: str, reversal: Reversal) -> None:
        """Store a reversal of a committed quote."""
        ...

    def committed_between(
        self, tenant_id: str, start: date, end: date
    ) -> Iterable[Quote | Reversal]:
        """Committed quotes and reversals with tax dates in [start, end)."""
        ...


class SalesHistory(Protocol):
    """Sales per state for economic-nexus monitoring."""

    def sales_since(self, tenant_id: str, since: date) -> Iterable[Sale]:
        """Sales dated on or after ``since``."""
        ...


@dataclass(frozen=True)
class IpPosition:
    """What an IP locator knows: a position with accuracy, or a country only."""

    lat: float | None
    lng: float | None
    accuracy_m: float | None
    country_code: str | None


class IpLocator(Protocol):
    """The geoengine MMDB locator, seen from tax_zones."""

    def locate(self, ip: str) -> IpPosition | None:
        """Position of an IP address (None when the database has none)."""
        ...
