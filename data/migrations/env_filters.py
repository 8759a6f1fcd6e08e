"""What Alembic's autogenerate compares: our tables, not partitions or PostGIS's own."""

from __future__ import annotations

import re
from typing import Any

from geoalchemy2 import alembic_helpers

# Partitions (``audit_log_p202611``, ``pings_p20261123``, ``..._pdefault``).
PARTITION_NAME = re.compile(r"_p(\d{6}|\d{8}|default)$")
FOREIGN_TABLES = {"spatial_ref_sys", "geography_columns", "geometry_columns"}


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook."""
    if (
        type_ == "table"
        and name
        and (name in FOREIGN_TABLES or PARTITION_NAME.search(name))
    ):
        return False
    if type_ in ("index", "unique_constraint", "foreign_key_constraint"):
        table = getattr(obj, "table", None)
        if table is None:
            table = getattr(obj, "parent", None)
        table_name = getattr(table, "name", "") or ""
        if PARTITION_NAME.search(table_name) or table_name in FOREIGN_TABLES:
            return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
