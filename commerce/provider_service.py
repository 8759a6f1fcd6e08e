"""Inbound payment-provider webhooks: verify, deduplicate, apply once.

One call per delivery, inside the request's one transaction: the signature is
checked with the tenant's secret, the provider event id is claimed (a replay,
concurrent or later, finds the claim and changes nothing), and the payment is
recorded through :class:`commerce.service.CommerceService`, so it gets the
same ledger entry, audit link and outbox event as a payment made over the API.
"""

from __future__ import annotations

from dataclasses import dataclass

from commerce.errors import InvalidDocumentError
from commerce.provider_events import (
    ProviderEventType,
    ProviderPayment,
    verify_provider_event,
)
from commerce.provider_repository import ProviderEventRepository
from commerce.service import (
    CommerceNotFoundError,
    CommerceService,
    PaymentRequest,
    PaymentResult,
)
from commerce.webhooks import DEFAULT_TOLERANCE_S

MIN_SECRET_LENGTH = 16


@dataclass(frozen=True)
class ProviderOutcome:
    """What a delivery did: ``processed``, ``duplicate`` or ``ignored``."""

    event_id: str
    status: str
    payment_id: str | None
    result: PaymentResult | None = None


class ProviderWebhookService:
    """Applies a tenant's payment-provider events exactly once."""

    def __init__(
        self,
        repo: ProviderEventRepository,
        commerce: CommerceService,
        tolerance_s: int = DEFAULT_TOLERANCE_S,
    ) -> None:
        self.repo = repo
        self.commerce = commerce
        self.tolerance_s = tolerance_s

    async def set_secret(self, secret: str) -> None:
        """Rotate the signing secret (the previous one keeps working)."""
        if len(secret) < MIN_SECRET_LENGTH:
            raise InvalidDocumentError(
                "secret", f"must be at least {MIN_SECRET_LENGTH} characters"
            )
        await self.repo.set_secret(secret)

    async def receive(
        self, body: bytes, signature: str | None, now_s: int
    ) -> ProviderOutcome:
        """Verify and apply one delivery.

        Raises
        ------
        WebhookSignatureError
            Unsigned, badly signed or stale (nothing is recorded).
        CommerceNotFoundError
            The event names a customer this tenant does not have.
        """
        secrets = await self.repo.secrets()
        event = verify_provider_event(secrets, body, signature, now_s, self.tolerance_s)
        new, earlier = await self.repo.claim_event(event.event_id, event.event_type)
        if not new:
            return ProviderOutcome(
                event.event_id, "duplicate", str(earlier) if earlier else None
            )
        if event.payment is None:
            return ProviderOutcome(event.event_id, "ignored", None)
        failed = event.kind is ProviderEventType.PAYMENT_FAILED
        result = await self.commerce.apply_received_payment(
            await self._request(event.payment, failed)
        )
        payment_id = result.payment.payment_id
        await self.repo.set_event_payment(event.event_id, payment_id)
        return ProviderOutcome(event.event_id, "processed", payment_id, result)

    async def _request(self, p: ProviderPayment, failed: bool) -> PaymentRequest:
        """The payment to record: on the named invoice up to what remains on it
        (the rest is customer credit), else oldest due first."""
        if not await self.repo.lock_customer(p.customer_id):
            raise CommerceNotFoundError(
                f"data.customer_id: no customer {p.customer_id}"
            )
        allocations: dict[str, int] | None = None
        if p.invoice_id is not None and not failed:
            remaining = await self.repo.remaining_on(
                p.invoice_id, p.customer_id, p.currency
            )
            if remaining is None:
                raise CommerceNotFoundError(
                    f"data.invoice_id: no {p.currency} invoice {p.invoice_id} "
                    "of this customer"
                )
            part = min(remaining, p.amount_minor)
            allocations = {str(p.invoice_id): part} if part else {}
        return PaymentRequest(
            p.customer_id,
            p.currency,
            p.amount_minor,
            "card",
            p.token,
            p.last4,
            p.provider_payment_id,
            allocations,
            "failed" if failed else "succeeded",
        )


__all__ = ["MIN_SECRET_LENGTH", "ProviderOutcome", "ProviderWebhookService"]
