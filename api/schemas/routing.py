"""Schemas of route planning (the problem itself is the project's JSON shape)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from api.schemas.common import RequestModel


class SolverParamsIn(RequestModel):
    time_limit_s: float = Field(default=10.0, gt=0, le=3600)
    seed: int = Field(default=0, ge=0)
    objective: Literal["distance", "time", "cost"] = "distance"
    minimise_vehicles: bool = False
    soft_time_windows: bool = False
    lateness_penalty_per_s: float = Field(default=100.0, ge=0)
    num_workers: int = Field(default=2, ge=1, le=8)


class PlanIn(RequestModel):
    """``problem``: ``dimensions``, ``vehicles``, ``jobs``, ``shipments``, optional
    ``matrix`` (see ``routing.read.problem_from_dict``)."""

    problem: dict[str, Any]
    params: SolverParamsIn = Field(default_factory=SolverParamsIn)
