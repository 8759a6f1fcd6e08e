"""Errors of ``commerce``: one base class, a few groups, no HTTP statuses.

``api/errors.py`` maps the groups to statuses. Input errors are ``ValueError``
subclasses whose message starts with the offending field (``lines[2].quantity:
...``); domain errors say which rule was broken.
"""

from __future__ import annotations

from collections.abc import Sequence


class CommerceError(Exception):
    """Base class of every commerce error."""


# --- bad input (ValueError; the message names the field) ----------------------
class CommerceInputError(CommerceError, ValueError):
    """A caller-supplied value is invalid."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvalidAmountError(CommerceInputError):
    """An amount is not a non-negative integer number of minor units."""


class UnknownCurrencyError(CommerceInputError):
    """A currency code is not an ISO 4217 code we support."""


class CurrencyMismatchError(CommerceInputError):
    """Two amounts or documents that must share a currency do not."""


class InvalidDocumentError(CommerceInputError):
    """An order, invoice, credit note or payment is malformed."""


class StatementFormatError(CommerceInputError):
    """A bank statement (CSV or camt.053) cannot be parsed."""


class UnsafeXmlError(StatementFormatError):
    """An XML document declares a DOCTYPE or ENTITY (XXE defence)."""


class SensitiveDataError(CommerceInputError):
    """A body holds something shaped like a card number (never echoed)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        super().__init__(
            ", ".join(self.paths),
            "looks like a card number; send a payment token, never card data",
        )


# --- lifecycle ----------------------------------------------------------------
class IllegalTransitionError(CommerceError):
    """A document cannot move from its current state to the requested one."""

    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(f"{entity}: cannot go from {current!r} to {target!r}")
        self.entity = entity
        self.current = current
        self.target = target


# --- money rules ----------------------------------------------------------------
class MoneyRuleError(CommerceError):
    """An operation would break a money invariant."""


class OverpaymentError(MoneyRuleError):
    """An invoice would be paid more than its remaining amount."""


class OvercreditError(MoneyRuleError):
    """A credit note or refund would exceed what can still be credited."""


class InsufficientCreditError(MoneyRuleError):
    """A customer's credit balance cannot cover the amount."""


# --- integrity ----------------------------------------------------------------
class IntegrityError(CommerceError):
    """Books or signatures do not add up."""


class UnbalancedEntryError(IntegrityError):
    """A journal entry's debits and credits differ."""


class WebhookSignatureError(IntegrityError):
    """A webhook signature header is malformed, stale or does not match."""


def require_transition(
    entity: str,
    transitions: dict[str, frozenset[str]],
    current: str,
    target: str,
) -> None:
    """Raise :class:`IllegalTransitionError` unless ``current -> target`` is legal.

    Parameters
    ----------
    entity : str
        Name used in the message (``"order"``, ``"invoice"``).
    transitions : dict of state -> allowed next states
    current, target : str
        The states (``StrEnum`` members are fine).
    """
    if target not in transitions.get(current, frozenset()):
        raise IllegalTransitionError(entity, str(current), str(target))
