"""The port through which an order redeems a proximity offer code.

Implemented by ``geoengine.offers_service.OfferService``; ``api/deps.py`` wires
it. Redemption runs in the order's transaction: the code is marked redeemed
together with the order, or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class OfferRedeemer(Protocol):
    async def redeem(
        self,
        code: str,
        *,
        customer_id: str,
        order_id: str,
        currency: str,
        lines: Sequence[tuple[str, str, int]],
    ) -> tuple[str, list[tuple[str, int]]]:
        """Validate ``code`` for the order and mark it redeemed.

        ``lines``: (line id, SKU, gross minor units). Returns the discount label
        and the amount per line id; raises a domain error naming the reason.
        """
        ...
