"""Delivery route optimisation on OR-Tools.

Build a problem with :class:`ProblemBuilder`, solve it with :func:`solve` (or
re-plan a day in progress with :func:`replan`) and read the
:class:`RoutePlan`. Pure code: no database, cache or web imports.
"""

from routing.errors import (
    InstanceFormatError,
    InvalidProblemError,
    MatrixError,
    ProblemIssue,
    RoutingError,
    SolverError,
)
from routing.feasibility import FeasibilityReport, check_plan, check_routes
from routing.matrix import (
    CachedProvider,
    GreatCircleProvider,
    InMemoryMatrixCache,
    MatrixCache,
    MatrixProvider,
    OsrmTableProvider,
    SpeedProfile,
    TravelMatrix,
)
from routing.params import SolverParams
from routing.plan import PlannedStop, RoutePlan, UnassignedJob, VehicleRoute
from routing.problem import (
    Break,
    Job,
    Problem,
    ProblemBuilder,
    Shipment,
    ShipmentStep,
    Vehicle,
)
from routing.read import problem_from_dict, read_problem, solve_file
from routing.replan import RouteInProgress, replan
from routing.solver import solve
from routing.types import LatLng, TimeWindow
from routing.workers import Progress

__all__ = [
    "Break",
    "CachedProvider",
    "FeasibilityReport",
    "GreatCircleProvider",
    "InMemoryMatrixCache",
    "InstanceFormatError",
    "InvalidProblemError",
    "Job",
    "LatLng",
    "MatrixCache",
    "MatrixError",
    "MatrixProvider",
    "OsrmTableProvider",
    "PlannedStop",
    "Problem",
    "ProblemBuilder",
    "ProblemIssue",
    "Progress",
    "RouteInProgress",
    "RoutePlan",
    "RoutingError",
    "Shipment",
    "ShipmentStep",
    "SolverError",
    "SolverParams",
    "SpeedProfile",
    "TimeWindow",
    "TravelMatrix",
    "UnassignedJob",
    "Vehicle",
    "VehicleRoute",
    "check_plan",
    "check_routes",
    "problem_from_dict",
    "read_problem",
    "replan",
    "solve",
    "solve_file",
]
