"""Proximity offers for one tenant: campaigns, issuing in the ping path,
redemption at checkout, reconciliation and the campaign report.

Issuing (:meth:`OfferService.issue`) runs only for the enter/dwell events of a
batch, never per ping:

1. the pure rules (:func:`geoengine.offers.evaluate_triggers`) decide every
   (event, campaign) pair up to the caps;
2. if Redis lost its counters (no ``or:{tenant}`` marker), they are rebuilt
   from PostGIS first, in a separate transaction holding the tenant's
   exclusive advisory lock, which waits until every in-flight issuer has
   committed, so the rebuild counts them;
3. the issuer takes the shared advisory lock (held until its request
   commits), reserves caps and budgets in one Lua script, and writes offers,
   decisions and ``offer.issued`` outbox rows in the request's transaction.

Hence a Redis flush at any moment neither exceeds a cap nor re-grants budget:
the counters are rebuilt from committed rows plus the rows of issuers that
were in flight. A transaction that rolls back after reserving leaves the
counters too high (safe); :meth:`OfferService.reconcile` (also run by every
rebuild) tightens them and releases the budget of expired codes.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from geoengine.covering import approx_area_m2
from geoengine.errors import (
    CampaignNotFoundError,
    OfferCodeRedeemedError,
    OfferCodeRejectedError,
)
from geoengine.offer_codes import (
    BasketLine,
    CodeClaims,
    device_digest,
    offer_discount,
    sign_fields,
    verify_code,
)
from geoengine.offer_report import CampaignReport, GroupStats, build_report
from geoengine.offers import (
    Campaign,
    CampaignSet,
    Candidate,
    Decision,
    FenceFacts,
    OfferParams,
    Reason,
    Trigger,
    campaign_from_spec,
    evaluate_triggers,
    resolvable_m,
)
from geoengine.offers_repository import (
    NewDecision,
    NewOffer,
    OfferRepository,
    StoredCampaign,
    TenantOfferSettings,
)
from geoengine.offers_state import (
    REBUILD_WINDOW_DAYS,
    Counters,
    OfferCounters,
    Reservation,
)
from geoengine.proximity import FenceProximity
from geoengine.registry import TenantFences
from geoengine.types import FenceId, Geofence

RepoFactory = Callable[[], AbstractAsyncContextManager[OfferRepository]]


@dataclass(frozen=True)
class IssuedOffer:
    """An offer as returned in the ping response and pushed to the webhook."""

    offer_id: str
    code: str
    campaign_id: str
    campaign_name: str
    fence_id: FenceId
    store_fence_id: FenceId
    expires_at: datetime
    reward: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "code": self.code,
            "campaign_id": self.campaign_id,
            "campaign_name": self.campaign_name,
            "fence_id": self.fence_id,
            "store_fence_id": self.store_fence_id,
            "expires_at": self.expires_at,
            "reward": dict(self.reward),
        }


@functools.lru_cache(maxsize=4096)
def reward_json(c: Campaign) -> dict[str, Any]:
    """The reward as shown to apps and webhooks (cached per campaign value)."""
    r = c.reward
    return {
        "kind": r.kind.value,
        "currency": r.currency,
        "percent": str(r.percent) if r.kind.value == "percent" else None,
        "amount_minor": r.amount_minor if r.kind.value == "fixed" else None,
        "max_discount_minor": r.max_discount_minor,
        "min_basket_minor": r.min_basket_minor,
        "eligible_skus": sorted(r.eligible_skus),
    }


@dataclass(frozen=True)
class ActiveOffers:
    """What the ping path needs, cached per worker."""

    campaigns: CampaignSet
    settings: TenantOfferSettings
    has_device_links: bool


class CampaignCache:
    """Per worker: each tenant's active campaigns and offer settings (short TTL).

    A change made through this worker is seen at once (``forget``); other
    workers see it within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 10.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[uuid.UUID, tuple[float, ActiveOffers]] = {}

    def get(self, tenant_id: uuid.UUID) -> ActiveOffers | None:
        e = self._entries.get(tenant_id)
        if e is None or e[0] < time.monotonic():
            return None
        return e[1]

    def put(self, tenant_id: uuid.UUID, active: ActiveOffers) -> None:
        self._entries[tenant_id] = (time.monotonic() + self.ttl_s, active)

    def forget(self, tenant_id: uuid.UUID) -> None:
        self._entries.pop(tenant_id, None)


def fence_facts(f: Geofence) -> FenceFacts:
    tz = f.metadata.get("timezone") or (f.opening_hours or {}).get("timezone")
    area = 0.0 if f.radius_m else approx_area_m2(f.geometry)
    return FenceFacts(
        f.id,
        f.tag,
        resolvable_m(f.radius_m, area, f.metadata),
        str(tz) if tz else None,
    )


def _memo_facts(tenant_fences: TenantFences, fence_id: FenceId) -> FenceFacts:
    memo = tenant_fences.memo(fence_id)
    found = memo.get("offer_facts")
    if found is None:
        found = memo["offer_facts"] = fence_facts(tenant_fences.fences[fence_id])
    return found  # type: ignore[no-any-return]


class OfferService:
    """Campaign CRUD, issuing, redemption, reconciliation and reports."""

    def __init__(
        self,
        repo: OfferRepository,
        counters: OfferCounters,
        cache: CampaignCache,
        rebuild_repo: RepoFactory,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.counters = counters
        self.cache = cache
        self.rebuild_repo = rebuild_repo
        self.tenant_id = repo.tenant_id
        self.now = now

    # ---- campaigns ----------------------------------------------------------------
    async def create_campaign(
        self, spec: dict[str, Any]
    ) -> tuple[StoredCampaign, Campaign]:
        campaign = campaign_from_spec("new", spec)
        stored = await self.repo.insert_campaign(campaign.name, campaign.active, spec)
        self.cache.forget(self.tenant_id)
        return stored, replace(campaign, campaign_id=stored.campaign_id)

    async def update_campaign(
        self, campaign_id: uuid.UUID, spec: dict[str, Any]
    ) -> tuple[StoredCampaign, Campaign]:
        campaign = campaign_from_spec(str(campaign_id), spec)
        stored = await self.repo.update_campaign(
            campaign_id, campaign.name, campaign.active, spec
        )
        if stored is None:
            raise CampaignNotFoundError(f"campaign_id: no campaign {campaign_id}")
        self.cache.forget(self.tenant_id)
        return stored, campaign

    async def get_campaign(
        self, campaign_id: uuid.UUID
    ) -> tuple[StoredCampaign, Campaign]:
        stored = await self.repo.get_campaign(campaign_id)
        if stored is None:
            raise CampaignNotFoundError(f"campaign_id: no campaign {campaign_id}")
        return stored, campaign_from_spec(stored.campaign_id, stored.spec)

    async def list_campaigns(self) -> list[tuple[StoredCampaign, Campaign]]:
        return [
            (s, campaign_from_spec(s.campaign_id, s.spec))
            for s in await self.repo.campaigns()
        ]

    async def archive_campaign(
        self, campaign_id: uuid.UUID
    ) -> tuple[StoredCampaign, Campaign]:
        """Deactivate (kept for its report and its outstanding codes)."""
        stored, _ = await self.get_campaign(campaign_id)
        return await self.update_campaign(campaign_id, {**stored.spec, "active": False})

    # ---- settings, devices ------------------------------------------------------------
    async def settings(self) -> tuple[OfferParams, TenantOfferSettings]:
        s = await self.repo.settings()
        return OfferParams(s.device_cap_per_day, s.device_cap_per_week), s

    async def set_caps(self, per_day: int | None, per_week: int | None) -> OfferParams:
        await self.repo.set_caps(per_day, per_week)
        self.cache.forget(self.tenant_id)
        return OfferParams(per_day, per_week)

    async def link_device(self, device_id: str, customer_id: uuid.UUID) -> None:
        await self.repo.link_device(device_id, customer_id)
        self.cache.forget(self.tenant_id)

    async def erase_device(self, device_id: str) -> dict[str, int]:
        counts = await self.repo.erase_device(device_id)
        counts["offer_counters"] = await self.counters.erase_device(device_id)
        self.cache.forget(self.tenant_id)
        return counts

    async def _active(self) -> ActiveOffers:
        found = self.cache.get(self.tenant_id)
        if found is None:
            stored = await self.repo.campaigns(active_only=True)
            cs = CampaignSet.build(
                campaign_from_spec(s.campaign_id, s.spec) for s in stored
            )
            found = ActiveOffers(
                cs, await self.repo.settings(), await self.repo.has_device_links()
            )
            self.cache.put(self.tenant_id, found)
        return found

    # ---- issuing --------------------------------------------------------------------------
    async def issue(
        self,
        triggers: Sequence[Trigger],
        lats: Sequence[float],
        lngs: Sequence[float],
        tenant_fences: TenantFences,
    ) -> dict[int, list[IssuedOffer]]:
        """Decide, reserve and record offers for the enter/dwell events of a batch.

        Returns the issued offers by ping row.
        """
        fences = tenant_fences.fences
        if not triggers:
            return {}
        active = await self._active()
        cs, settings = active.campaigns, active.settings
        if not cs.campaigns:
            return {}
        triggers = self._with_stores(
            cs, triggers, lats, lngs, fences, tenant_fences.proximity
        )
        wanted = {t.fence_id for t in triggers} | {
            s for t in triggers for s, _ in t.stores
        }
        facts = {
            fid: _memo_facts(tenant_fences, fid) for fid in wanted if fid in fences
        }
        devices = sorted({t.device_id for t in triggers})
        customers = (
            await self.repo.customer_facts(devices) if active.has_device_links else {}
        )
        decisions, candidates = evaluate_triggers(triggers, cs, facts, customers)
        if not decisions and not candidates:
            return {}
        granted: list[Candidate] = []
        if candidates:
            reasons = await self._reserve(candidates, settings)
            for cand, reason in zip(candidates, reasons, strict=True):
                if reason is None:
                    granted.append(cand)
                else:
                    decisions.append(
                        Decision(
                            cand.trigger, cand.campaign, reason.value, cand.store_id
                        )
                    )
        offers, issued = self._mint(granted, settings, customers)
        held = [d for d in decisions if d.outcome == Reason.HOLDOUT.value]
        counts = Counter(
            (d.campaign.campaign_id, d.outcome)
            for d in decisions
            if d.outcome != Reason.HOLDOUT.value
        )
        # per device: the holdout (issued offers are their own record)
        records = [
            NewDecision(
                d.campaign.campaign_id,
                d.trigger.device_id,
                d.trigger.fence_id,
                datetime.fromtimestamp(d.trigger.ts_s, UTC),
                d.outcome,
            )
            for d in held
        ]
        await self.repo.record(
            offers, records, counts, datetime.fromtimestamp(self.now(), UTC)
        )
        return issued

    @staticmethod
    def _with_stores(
        cs: CampaignSet,
        triggers: Sequence[Trigger],
        lats: Sequence[float],
        lngs: Sequence[float],
        fences: Mapping[FenceId, Geofence],
        proximity: FenceProximity,
    ) -> list[Trigger]:
        """Attach the store fences near each trigger (for ``near_store`` targets)."""
        if not cs.near_store:
            return list(triggers)
        tags = cs.store_tags
        pairs = proximity.pairs_within(
            np.asarray(lngs, np.float64), np.asarray(lats, np.float64), cs.max_within_m
        )
        near: dict[int, list[tuple[FenceId, float]]] = {}
        for i, fid, d in zip(
            pairs.point_idx.tolist(),
            pairs.fence_ids.tolist(),
            pairs.signed_m.tolist(),
            strict=True,
        ):
            f = fences.get(fid)
            if f is not None and f.tag in tags:
                near.setdefault(i, []).append((fid, max(0.0, -d)))
        return [
            t._replace(stores=tuple(sorted(near.get(i, ()), key=lambda s: s[1])))
            for i, t in enumerate(triggers)
        ]

    async def _reserve(
        self, candidates: Sequence[Candidate], settings: TenantOfferSettings
    ) -> list[Reason | None]:
        items = [
            Reservation(
                c.group,
                c.trigger.device_id,
                c.campaign.campaign_id,
                c.trigger.ts_s,
                c.campaign.limits.per_device_per_day,
                c.campaign.limits.per_device_per_week,
                c.value_minor,
                c.campaign.limits.budget_minor,
                c.campaign.limits.budget_redemptions,
            )
            for c in candidates
        ]
        ready, wanted = await self.counters.status()
        if not ready:
            await self.reconcile()
        elif wanted and await self.counters.claim_reconcile():
            await self.reconcile(budgets_only=True)  # release expired codes
        await self.repo.lock_shared()
        # Rounds: the best candidate of every trigger first, then the second of
        # those whose first was refused, and so on (a group with a granted item
        # answers "outranked" for the rest), so that every trigger's first
        # choice comes before any trigger's second choice. At most two script
        # calls: the first choices, then every later round of the refused groups
        # (most groups are settled by their first choice, and the arguments of
        # the items the script would skip cost more than a second call).
        tried: Counter[int] = Counter()
        keys: list[tuple[int, int]] = []
        for it in items:  # (round, group): a group's candidates come best first
            keys.append((tried[it.group], it.group))
            tried[it.group] += 1
        order = sorted(range(len(items)), key=keys.__getitem__)
        out: list[Reason | None] = [Reason.OUTRANKED] * len(items)

        async def reserve(batch: list[int]) -> bool:
            res = await self.counters.reserve(
                [items[i] for i in batch],
                settings.device_cap_per_day,
                settings.device_cap_per_week,
            )
            if res is None:  # lost between the check and the lock
                return False
            for i, r in zip(batch, res, strict=True):
                out[i] = r
            return True

        first = [i for i in order if keys[i][0] == 0]
        if not await reserve(first):
            return [Reason.STATE_UNAVAILABLE] * len(items)
        refused = {items[i].group for i in first if out[i] is not None}
        later = [i for i in order if keys[i][0] > 0 and items[i].group in refused]
        if later and not await reserve(later):
            for i in later:
                out[i] = Reason.STATE_UNAVAILABLE
        budget_refused = any(
            r in (Reason.BUDGET_MONEY, Reason.BUDGET_REDEMPTIONS) for r in out
        )
        if budget_refused:
            await self.counters.want_reconcile()
        return out

    def _mint(
        self,
        granted: Sequence[Candidate],
        settings: TenantOfferSettings,
        customers: Mapping[str, Any],
    ) -> tuple[list[NewOffer], dict[int, list[IssuedOffer]]]:
        offers: list[NewOffer] = []
        issued: dict[int, list[IssuedOffer]] = {}
        now = self.now()
        per_campaign: dict[str, tuple[bytes, dict[str, Any]]] = {}
        tenant = self.tenant_id.bytes
        secret, version = settings.secret, settings.key_version
        random_ids = os.urandom(16 * len(granted))  # one call, not one per offer
        for k, c in enumerate(granted):
            t, camp = c.trigger, c.campaign
            cid = camp.campaign_id
            if cid not in per_campaign:
                per_campaign[cid] = (uuid.UUID(cid).bytes, reward_json(camp))
            campaign_bytes, reward = per_campaign[cid]
            offer_id = uuid.UUID(bytes=random_ids[16 * k : 16 * k + 16], version=4)
            expires_s = int(max(now, t.ts_s)) + camp.code_ttl_s
            code = sign_fields(
                secret,
                version,
                tenant,
                offer_id.bytes,
                campaign_bytes,
                expires_s,
                device_digest(t.device_id),
            )
            fact = customers.get(t.device_id)
            expires_at = datetime.fromtimestamp(expires_s, UTC)
            io = IssuedOffer(
                str(offer_id),
                code,
                cid,
                camp.name,
                t.fence_id,
                c.store_id,
                expires_at,
                reward,
            )
            offers.append(
                NewOffer(
                    offer_id,
                    cid,
                    t.device_id,
                    fact.customer_id if fact is not None else None,
                    t.fence_id,
                    c.store_id,
                    datetime.fromtimestamp(t.ts_s, UTC),
                    expires_at,
                    camp.reward.currency,
                    c.value_minor,
                    code,
                )
            )
            issued.setdefault(t.row, []).append(io)
        return offers, issued

    # ---- reconciliation -------------------------------------------------------------------
    async def reconcile(self, budgets_only: bool = False) -> Counters:
        """Rebuild the Redis counters from PostGIS (exclusive lock, own transaction).

        Waits for in-flight issuers (they hold the shared lock until commit), so
        the counts include them; sets the "complete" marker. Budgets release
        the value of expired, unredeemed codes. ``budgets_only``: leave the
        per-device counters alone (only when they are known complete).
        """
        async with self.rebuild_repo() as repo:
            await repo.lock_exclusive()
            device, budget = await repo.counters(
                datetime.fromtimestamp(self.now(), UTC),
                window_days=0 if budgets_only else REBUILD_WINDOW_DAYS,
            )
            counters = Counters({} if budgets_only else device, budget)
            await self.counters.rebuild(counters)
        return counters

    # ---- redemption ------------------------------------------------------------------------
    async def redeem(
        self,
        code: str,
        *,
        customer_id: str,
        order_id: str,
        currency: str,
        lines: Sequence[tuple[str, str, int]],
    ) -> tuple[str, list[tuple[str, int]]]:
        """Validate ``code`` for this order and mark it redeemed (same transaction).

        ``lines`` are (line id, SKU, gross minor units). Returns the discount's
        label and its per-line amounts. Raises :class:`OfferCodeRejectedError`
        or :class:`OfferCodeRedeemedError` naming the reason.
        """
        settings = await self.repo.settings()
        claims = verify_code(settings.secret, code, self.tenant_id)
        stored = await self.repo.offer_for_update(claims.offer_id)
        if stored is None:
            raise OfferCodeRejectedError(
                "unknown_code", "no such offer for this tenant"
            )
        if stored.redeemed_at is not None:
            raise OfferCodeRedeemedError(
                "already_redeemed",
                f"the code was already redeemed (order {stored.order_id})",
            )
        now = self.now()
        if now >= min(claims.expires_s, stored.expires_at.timestamp()):
            raise OfferCodeRejectedError(
                "expired", f"the code expired at {stored.expires_at.isoformat()}"
            )
        if stored.customer_id is not None and stored.customer_id != customer_id:
            raise OfferCodeRejectedError(
                "wrong_customer", "the code was issued to another customer"
            )
        if stored.currency != currency:
            raise OfferCodeRejectedError(
                "currency_mismatch",
                f"the offer is in {stored.currency}, the order in {currency}",
            )
        found = await self.repo.get_campaign(uuid.UUID(stored.campaign_id))
        if found is None:  # pragma: no cover - FK cascade
            raise OfferCodeRejectedError("unknown_code", "the campaign is gone")
        campaign = campaign_from_spec(found.campaign_id, found.spec)
        parts = offer_discount(campaign.reward, [BasketLine(*ln) for ln in lines])
        ok = await self.repo.mark_redeemed(
            stored.offer_id,
            order_id,
            customer_id,
            sum(a for _, a in parts),
            datetime.fromtimestamp(now, UTC),
        )
        if not ok:  # pragma: no cover - the row lock makes this unreachable
            raise OfferCodeRedeemedError(
                "already_redeemed", "the code was already redeemed"
            )
        return f"offer: {campaign.name}", parts

    def verify(self, secret: bytes, code: str) -> CodeClaims:
        """Offline verification (signature and tenant only)."""
        return verify_code(secret, code, self.tenant_id)

    # ---- measurement ---------------------------------------------------------------------------
    async def report(self, campaign_id: uuid.UUID) -> CampaignReport:
        _, campaign = await self.get_campaign(campaign_id)
        outcomes = await self.repo.outcome_counts(campaign_id)
        redeemed, discount, revenue = await self.repo.redemption_totals(campaign_id)
        groups = await self.repo.group_conversions(
            campaign_id, campaign.attribution_days
        )
        return build_report(
            campaign.campaign_id,
            campaign.reward.currency,
            campaign.attribution_days,
            outcomes,
            redeemed,
            discount,
            revenue,
            GroupStats(*groups["treatment"]),
            GroupStats(*groups["holdout"]),
        )
