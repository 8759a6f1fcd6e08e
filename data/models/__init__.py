"""Every table of geocommerce, in one place (Alembic compares against ``Base.metadata``)."""

from data.models.base import Base, TenantOwned
from data.models.commerce import (
    AuditChainRecord,
    CreditNote,
    Customer,
    CustomerCredit,
    IdempotencyKey,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    LedgerEntry,
    LedgerPosting,
    Order,
    OrderLine,
    OutboxEvent,
    Payment,
    PaymentAllocation,
    Product,
    StatementLine,
    TaxLine,
    WebhookEndpoint,
)
from data.models.geo import DeviceConsent, Geofence, GeofenceEvent, Ping
from data.models.offers import (
    DeviceCustomer,
    Offer,
    OfferCampaign,
    OfferDecision,
    OfferOutcomeCount,
    OfferSettings,
)
from data.models.payment_provider import ProviderEvent, ProviderSecret
from data.models.prepositioning import (
    PrepositioningPlan,
    PrepositioningTransfer,
    Warehouse,
    WarehouseStock,
)
from data.models.routing import RoutePlan
from data.models.tax import Jurisdiction, TaxQuote, TaxRegistration, TaxReversal
from data.models.tenancy import SCOPES, ApiKey, AuditLog, Tenant

__all__ = [
    "SCOPES",
    "ApiKey",
    "AuditChainRecord",
    "AuditLog",
    "Base",
    "CreditNote",
    "Customer",
    "CustomerCredit",
    "DeviceConsent",
    "DeviceCustomer",
    "Geofence",
    "GeofenceEvent",
    "IdempotencyKey",
    "Invoice",
    "InvoiceCounter",
    "InvoiceLine",
    "Jurisdiction",
    "LedgerEntry",
    "LedgerPosting",
    "Offer",
    "OfferCampaign",
    "OfferDecision",
    "OfferOutcomeCount",
    "OfferSettings",
    "Order",
    "OrderLine",
    "OutboxEvent",
    "Payment",
    "PaymentAllocation",
    "Ping",
    "PrepositioningPlan",
    "PrepositioningTransfer",
    "Product",
    "ProviderEvent",
    "ProviderSecret",
    "RoutePlan",
    "StatementLine",
    "TaxLine",
    "TaxQuote",
    "TaxRegistration",
    "TaxReversal",
    "Tenant",
    "TenantOwned",
    "Warehouse",
    "WarehouseStock",
    "WebhookEndpoint",
]


def tenant_owned_tables() -> list[str]:
    """Names of the tables that carry a ``tenant_id`` and therefore need RLS."""
    return sorted(
        name for name, table in Base.metadata.tables.items() if "tenant_id" in table.c
    )
