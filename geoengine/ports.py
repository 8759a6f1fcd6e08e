"""Storage ports of the geofence engine.

The pure modules never touch PostGIS or Redis; the service depends on these
``Protocol``s, implemented by ``repository.py`` (PostGIS) and ``state.py``
(Redis), and by in-memory fakes in unit tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from geoengine.events import Membership
from geoengine.fusion import DeviceState
from geoengine.types import FenceEvent, FenceId, Geofence


@runtime_checkable
class GeofenceStore(Protocol):
    """Source of truth for fences (PostGIS), scoped to one tenant."""

    def get(self, fence_id: FenceId) -> Geofence:
        """One fence; raises ``FenceNotFoundError`` if absent."""
        ...

    def get_many(self, fence_ids: Iterable[FenceId]) -> Mapping[FenceId, Geofence]:
        """The fences that exist among ``fence_ids``."""
        ...

    def all_active(self) -> Iterable[Geofence]:
        """Every active fence (used to rebuild the index at start-up)."""
        ...

    def add(self, fence: Geofence) -> Geofence:
        """Store a new fence; returns it with its assigned id."""
        ...

    def replace(self, fence: Geofence) -> Geofence:
        """Replace an existing fence."""
        ...

    def delete(self, fence_id: FenceId) -> None:
        """Delete a fence; raises ``FenceNotFoundError`` if absent."""
        ...


@runtime_checkable
class FenceChangeFeed(Protocol):
    """Announces fence changes to every worker (pub/sub or LISTEN/NOTIFY)."""

    def publish(self, fence_ids: Sequence[FenceId]) -> None:
        """Tell the other workers these fences changed (added, updated, deleted)."""
        ...


@runtime_checkable
class DeviceStateStore(Protocol):
    """Per-device fused state and fence memberships (Redis), with a TTL."""

    def load(
        self, device_id: str
    ) -> tuple[DeviceState | None, Mapping[FenceId, Membership]]:
        """State and memberships of one device (None and {} if unknown)."""
        ...

    def load_many(
        self, device_ids: Sequence[str]
    ) -> Mapping[str, tuple[DeviceState | None, Mapping[FenceId, Membership]]]:
        """Batch form of :meth:`load`."""
        ...

    def save(
        self,
        device_id: str,
        state: DeviceState,
        memberships: Mapping[FenceId, Membership],
    ) -> None:
        """Store state and memberships (``DeviceState.to_bytes`` and
        ``events.encode_memberships`` give compact values)."""
        ...

    def erase(self, device_id: str) -> None:
        """Delete everything held for a device."""
        ...


@runtime_checkable
class EventSink(Protocol):
    """Where fence events go (a per-tenant stream, then PostGIS)."""

    def append(self, events: Sequence[FenceEvent]) -> None:
        """Append events; consumers are idempotent on ``FenceEvent.event_id``."""
        ...
