"""Errors raised by the routing package.

One base class with a few groups, after h3-py's error system. Domain errors carry
no HTTP status; the API maps classes to statuses.
"""

from __future__ import annotations

from dataclasses import dataclass


class RoutingError(Exception):
    """Base class of every routing error."""


@dataclass(frozen=True, slots=True)
class ProblemIssue:
    """One offending item of a problem: which item, which field, and why."""

    item_id: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.item_id}.{self.field}: {self.reason}"


class InvalidProblemError(RoutingError, ValueError):
    """The problem is malformed; ``issues`` names each offending item."""

    def __init__(self, issues: list[ProblemIssue]) -> None:
        self.issues = list(issues)
        shown = "; ".join(str(i) for i in self.issues[:10])
        more = len(self.issues) - 10
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"invalid routing problem: {shown}{suffix}")

    def problem_fields(self) -> dict[str, object]:
        """Extra fields of the API's problem document: every offending item."""
        items = [
            {"field": f"{i.item_id}.{i.field}", "item": i.item_id, "reason": i.reason}
            for i in self.issues
        ]
        return {"field": items[0]["field"] if items else "problem", "errors": items}


class MatrixError(RoutingError):
    """A travel matrix could not be obtained or has the wrong shape."""


class SolverError(RoutingError):
    """The solver failed in a way that is not the caller's fault."""


class InstanceFormatError(RoutingError, ValueError):
    """An instance file could not be parsed; the message names the line or key."""


class PrepositioningError(RoutingError):
    """Base class of the warehouse pre-positioning errors."""


class EmptyHistoryError(PrepositioningError, ValueError):
    """There are no orders to forecast from (the message names the field)."""


class InfeasiblePlacementError(PrepositioningError, ValueError):
    """The stock cannot be placed (e.g. more units than the warehouses hold)."""


class InvalidWarehouseError(PrepositioningError, ValueError):
    """A warehouse definition is inconsistent (the message names the field)."""
