"""Solver parameters: plain frozen values, no environment reads."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Objective = Literal["distance", "time", "cost"]

#: First-solution strategies suited to time windows, tried across workers.
DEFAULT_FIRST_SOLUTIONS: tuple[str, ...] = (
    "PARALLEL_CHEAPEST_INSERTION",
    "LOCAL_CHEAPEST_INSERTION",
    "SAVINGS",
)

KNOWN_FIRST_SOLUTIONS = frozenset(
    {
        "PARALLEL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_COST_INSERTION",
        "SEQUENTIAL_CHEAPEST_INSERTION",
        "SAVINGS",
        "PARALLEL_SAVINGS",
        "PATH_CHEAPEST_ARC",
        "CHRISTOFIDES",
        "SWEEP",
        "AUTOMATIC",
    }
)


@dataclass(frozen=True, slots=True)
class SolverParams:
    """How to solve.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget of the whole solve, model building included.
    seed
        Seed of every random choice (workers derive their own from it).
    first_solution_strategies
        OR-Tools first-solution strategies; worker ``k`` uses entry
        ``k % len(...)``.
    objective
        ``distance`` (metres), ``time`` (seconds on the road, waiting included)
        or ``cost`` (vehicle fixed cost, cost per km and per hour).
    minimise_vehicles
        Make each used vehicle cost more than any route could save, so the
        fleet size is minimised first.
    soft_time_windows
        Allow lateness at ``lateness_penalty_per_s`` per second late instead of
        treating window ends as hard.
    lateness_penalty_per_s
        Penalty per second late, in objective units (metres for ``distance``).
    num_workers
        Parallel searches (processes); the best plan wins. ``1`` solves in this
        process.
    improve
        Run the ruin-and-recreate improvement step on the best plan.
    """

    time_limit_s: float = 10.0
    seed: int = 0
    first_solution_strategies: tuple[str, ...] = DEFAULT_FIRST_SOLUTIONS
    objective: Objective = "distance"
    minimise_vehicles: bool = False
    soft_time_windows: bool = False
    lateness_penalty_per_s: float = 100.0
    num_workers: int = 2
    improve: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_limit_s) and self.time_limit_s > 0):
            raise ValueError(f"time_limit_s must be positive, got {self.time_limit_s}")
        if self.objective not in ("distance", "time", "cost"):
            raise ValueError(
                f"objective must be distance|time|cost, got {self.objective!r}"
            )
        if not self.first_solution_strategies:
            raise ValueError("first_solution_strategies must not be empty")
        unknown = set(self.first_solution_strategies) - KNOWN_FIRST_SOLUTIONS
        if unknown:
            raise ValueError(f"first_solution_strategies: unknown {sorted(unknown)}")
        if not 1 <= self.num_workers <= 64:
            raise ValueError(
                f"num_workers must be within 1..64, got {self.num_workers}"
            )
        if not (
            math.isfinite(self.lateness_penalty_per_s)
            and self.lateness_penalty_per_s >= 0
        ):
            raise ValueError(
                "lateness_penalty_per_s must be >= 0, "
                f"got {self.lateness_penalty_per_s}"
            )
