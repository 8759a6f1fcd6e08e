"""Tax resolution and quotes for one tenant: ports in, pure kernel calls, results out."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely

from tax_zones.codec import decode, dumps
from tax_zones.errors import (
    InvalidQuoteError,
    NoJurisdictionError,
    TaxInputError,
    TaxZoneError,
)
from tax_zones.jurisdictions import JurisdictionResolver
from tax_zones.ledger import (
    LiabilityRow,
    NexusAlert,
    Reversal,
    check_economic_nexus,
    liability_report,
    reverse,
)
from tax_zones.loaders import load_census_500k, load_world_atlas
from tax_zones.ports import IpLocator
from tax_zones.quotes import (
    CustomerExemption,
    Quote,
    QuoteLine,
    QuoteRequest,
    Registration,
    compute_quote,
)
from tax_zones.rates import RateTable, TaxRules
from tax_zones.repository import JurisdictionRepository, TaxRepository
from tax_zones.resolution import Policy, Resolution, Status
from tax_zones.state import QuoteCache, TtlCache
from tax_zones.types import Jurisdiction, LatLng


class QuoteNotFoundError(TaxZoneError, LookupError):
    """No such quote for this tenant."""


class QuoteStateError(TaxZoneError):
    """The quote cannot do that now (expired, committed elsewhere, not committed)."""


@dataclass(frozen=True)
class Location:
    """Where: a point with its accuracy, an IP, or a US ZIP (exactly one)."""

    lat: float | None = None
    lng: float | None = None
    accuracy_m: float | None = None
    ip: str | None = None
    zip: str | None = None


@dataclass(frozen=True)
class TaxParams:
    quote_ttl_s: int = 24 * 3600


class TaxService:
    """What checkouts call: resolve, quote, commit, reverse, report."""

    def __init__(
        self,
        resolver: JurisdictionResolver,
        rates: RateTable,
        rules: TaxRules,
        repo: TaxRepository,
        ip: IpLocator | None,
        quotes: QuoteCache,
        registrations_cache: TtlCache[uuid.UUID, tuple[Registration, ...]],
        params: TaxParams | None = None,
    ) -> None:
        self.resolver = resolver
        self.rates = rates
        self.rules = rules
        self.repo = repo
        self.ip = ip
        self.quotes = quotes
        self.registrations_cache = registrations_cache
        self.params = params or TaxParams()

    def _rate_of(self, day: date):
        return lambda stack: self.rates.stack_rate([j.code for j in stack], day)

    # ---- resolution ------------------------------------------------------
    def resolve(
        self, where: Location, day: date | None = None, policy: Policy | None = None
    ) -> Resolution:
        """One location (raises AmbiguousJurisdictionError under
        ``require_precise_location`` when the disc crosses a border)."""
        day = day or datetime.now(UTC).date()
        kw = {"at": day, "policy": policy, "rate_of": self._rate_of(day)}
        if where.zip is not None:
            return self.resolver.resolve_zip(where.zip, **kw).raise_for_status()
        if where.ip is not None:
            if self.ip is None:
                raise TaxInputError("ip: no IP database is configured")
            return self.resolver.resolve_ip(where.ip, self.ip, **kw).raise_for_status()
        if where.lat is None or where.lng is None:
            raise TaxInputError("lat: give lat, lon and accuracy_m, or ip, or zip")
        return self.resolver.resolve(
            LatLng(where.lat, where.lng), where.accuracy_m or 0.0, **kw
        )

    def resolve_batch(
        self, items: Sequence[tuple[Location, date | None, Policy | None]]
    ) -> list[Resolution | TaxZoneError]:
        """Many locations, in order; points are resolved together per (date, policy).

        Per-item problems (unknown ZIP, IP without position, precision required)
        come back as the error in that item's place.
        """
        out: list[Resolution | TaxZoneError | None] = [None] * len(items)
        groups: dict[tuple[date, Policy | None], list[int]] = {}
        today = datetime.now(UTC).date()
        for i, (where, day, policy) in enumerate(items):
            if where.lat is not None and where.zip is None and where.ip is None:
                groups.setdefault((day or today, policy), []).append(i)
            else:
                try:
                    out[i] = self.resolve(where, day, policy)
                except TaxZoneError as exc:
                    out[i] = exc
        for (day, policy), idx in groups.items():
            locs = [items[i][0] for i in idx]
            results = self.resolver.resolve_many(
                np.array([w.lat for w in locs], dtype=np.float64),
                np.array([w.lng for w in locs], dtype=np.float64),
                np.array([w.accuracy_m or 0.0 for w in locs], dtype=np.float64),
                at=day,
                policy=policy,
                rate_of=self._rate_of(day),
            )
            for i, r in zip(idx, results, strict=True):
                try:
                    out[i] = r.raise_for_status()
                except TaxZoneError as exc:
                    out[i] = exc
        return [r for r in out if r is not None]

    # ---- quotes ----------------------------------------------------------
    async def _registrations(self) -> tuple[Registration, ...]:
        cached = self.registrations_cache.get(self.repo.tenant_id)
        if cached is not None:
            return cached
        regs = tuple(await self.repo.registrations())
        self.registrations_cache.put(self.repo.tenant_id, regs)
        return regs

    async def quote(
        self,
        *,
        currency: str,
        lines: Sequence[QuoteLine],
        ship_to: Location,
        ship_from: Location | None = None,
        shipping_minor: int = 0,
        exemption: CustomerExemption | None = None,
        tax_date: date | None = None,
        policy: Policy | None = None,
    ) -> tuple[Quote, bytes]:
        """Compute a quote and keep it open (in Redis) until it expires.

        Returns the quote and its JSON document (encoded once: the same bytes are
        stored and answered).
        """
        day = tax_date or datetime.now(UTC).date()
        to = self.resolve(ship_to, day, policy)
        if to.status is Status.NO_JURISDICTION:
            raise NoJurisdictionError(
                "ship_to: no loaded jurisdiction contains this location; no tax can "
                "be determined (never assumed zero)"
            )
        frm = self.resolve(ship_from, day, policy) if ship_from is not None else None
        request = QuoteRequest(
            currency=currency,
            lines=tuple(lines),
            ship_to=to,
            tax_date=day,
            ship_from=frm,
            shipping_minor=shipping_minor,
            exemption=exemption,
            registrations=await self._registrations(),
        )
        quote = compute_quote(
            request,
            self.rates,
            self.rules,
            quote_id=str(uuid.uuid4()),
            expires_at=datetime.now(UTC) + timedelta(seconds=self.params.quote_ttl_s),
        )
        document = dumps(quote)
        await self.quotes.put_encoded(quote.quote_id, document, self.params.quote_ttl_s)
        return quote, document

    async def get_quote(self, quote_id: uuid.UUID) -> tuple[Quote, str | None]:
        """A committed quote (from PostgreSQL) or an open one (from Redis)."""
        found = await self.repo.get_quote(quote_id)
        if found is not None:
            return found[0], found[1]
        document = await self.quotes.get(quote_id)
        if document is None:
            raise QuoteNotFoundError(f"quote_id: no quote {quote_id} (or it expired)")
        return decode(Quote, document), None

    async def commit(self, quote_id: uuid.UUID, order_id: str) -> Quote:
        """Attach a quote to an order, durably; again to the same order is a no-op."""
        found = await self.repo.get_quote(quote_id, for_update=True)
        if found is not None:
            quote, committed_to, _ = found
            if committed_to != order_id:
                raise QuoteStateError(
                    f"quote_id: already committed to order {committed_to}"
                )
            return quote
        document = await self.quotes.get(quote_id)
        if document is None:
            raise QuoteNotFoundError(f"quote_id: no quote {quote_id} (or it expired)")
        quote = decode(Quote, document)
        if quote.expires_at < datetime.now(UTC):
            raise QuoteStateError("quote_id: the quote has expired; ask for a new one")
        if not await self.repo.save_committed_quote(quote, document, order_id):
            raise QuoteStateError("quote_id: committed concurrently; read it again")
        return quote

    async def reverse(
        self, quote_id: uuid.UUID, refunds: dict[str, int] | None = None
    ) -> Reversal:
        """Reverse a committed quote, fully or per line, at its original tax date."""
        found = await self.repo.get_quote(quote_id, for_update=True)
        if found is None:
            raise QuoteStateError("quote_id: only a committed quote can be reversed")
        quote = found[0]
        reversal = reverse(quote, refunds)
        already = await self.repo.reversed_minor(quote_id)
        if abs(already + reversal.tax_minor) > quote.tax_minor:
            raise InvalidQuoteError(
                "refunds: this would reverse more tax than the quote collected"
            )
        await self.repo.save_reversal(reversal)
        return reversal

    async def set_registrations(self, regs: Sequence[Registration]) -> None:
        await self.repo.set_registrations(regs)
        self.registrations_cache.forget(self.repo.tenant_id)

    async def liability(self, start: date, end: date) -> list[LiabilityRow]:
        if end <= start:
            raise TaxInputError("end: must be after start")
        return liability_report(await self.repo.committed_between(start, end))

    async def nexus(self, as_of: date | None = None) -> list[NexusAlert]:
        as_of = as_of or datetime.now(UTC).date()
        sales = await self.repo.sales_since(as_of - timedelta(days=365))
        return check_economic_nexus(
            sales, as_of, self.rules.thresholds, await self.repo.registrations()
        )


async def load_boundaries(
    repo: JurisdictionRepository, world_atlas: Path | None = None
) -> dict[str, int]:
    """Load the default boundaries (Census 1:500k; world-atlas countries if given).

    Returns the number of records stored per source.
    """
    records, _ = load_census_500k()
    counts = {records[0].source.name: await repo.replace_source(records)}
    if world_atlas is not None and world_atlas.exists():
        countries, _skipped, _ = load_world_atlas(world_atlas)
        # The Census layer carries the US; the country layer covers the rest.
        countries = _merge_same_code([c for c in countries if c.code != "US"])
        counts[countries[0].source.name] = await repo.replace_source(countries)
    return counts


def _merge_same_code(records: Sequence[Jurisdiction]) -> list[Jurisdiction]:
    """One record per code: Natural Earth splits some countries (e.g. Australia and
    its Ashmore and Cartier Islands both map to AU); their parts are united."""
    by_code: dict[str, list[Jurisdiction]] = {}
    for r in records:
        by_code.setdefault(r.code, []).append(r)
    out = []
    for group in by_code.values():
        first = group[0]
        if len(group) > 1:
            geom = shapely.union_all(
                [g.geometry for g in group if g.geometry is not None]
            )
            first = dataclasses.replace(first, geometry=geom)
        out.append(first)
    return out
