"""Periodic upkeep: time partitions ahead of need, retention by dropping partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from data.db import make_owner_engine
from data.schema_ops import drop_partitions_before, ensure_partitions

# table -> (granularity, partitions ahead)
PARTITIONED = {
    "audit_log": ("month", 3),
    "pings": ("day", 7),
    "geofence_events": ("day", 7),
}


def maintain(
    url: str, retention_days: dict[str, int] | None = None, today: date | None = None
) -> list[str]:
    """Create the partitions each table needs next; drop those past retention.

    ``retention_days`` maps a table to how many days of data to keep; whole
    partitions that end before that are dropped (never row-by-row deletes). The
    audit log is never dropped here.
    """
    today = today or datetime.now(UTC).date()
    engine = make_owner_engine(url)
    out = []
    try:
        with engine.begin() as conn:
            for table, (granularity, ahead) in PARTITIONED.items():
                created = ensure_partitions(
                    conn, table, granularity, ahead=ahead, today=today
                )
                out.append(f"{table}: created {', '.join(created) or 'nothing'}")
            for table, days in (retention_days or {}).items():
                if table == "audit_log" or table not in PARTITIONED:
                    raise ValueError(f"retention_days: {table} cannot expire")
                dropped = drop_partitions_before(
                    conn, table, today - timedelta(days=days)
                )
                out.append(f"{table}: dropped {', '.join(dropped) or 'nothing'}")
    finally:
        engine.dispose()
    return out
