"""Our own improvement steps on top of OR-Tools' guided local search.

Both steps drive a :class:`~routing.solver.RoutingSearch` through three calls
(``solve_from``, ``objective_of`` and ``sub_search``) and never touch OR-Tools
directly.

* :func:`ruin_recreate` (problems up to :data:`DECOMPOSE_ABOVE` visits):
  iterated ruin and recreate. Each round removes strings of nearby visits from
  a few neighbouring routes (the string removal of SISR, Christiaens and
  Vanden Berghe, Transportation Science 2020), lets OR-Tools reinsert them and
  repair the plan with a greedy descent over a trimmed operator set, and accepts
  the result with a threshold that shrinks to zero over the time left.
* :func:`decompose` (larger problems): POPMUSIC-style. A seed route, its
  nearest routes and one idle vehicle form a sub-problem of a few dozen visits
  that OR-Tools re-solves from the current routes with a short guided local
  search; the other routes are untouched, so the plan never gets worse.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from routing import sisr

if TYPE_CHECKING:
    from routing.solver import RoutingSearch, SearchResult

#: Ruin size: strings of up to this many visits from up to this many routes.
RUIN_MAX_STRING = 10
RUIN_MAX_ROUTES = 3
#: Time cap of one repair (greedy descent) after a ruin.
RUIN_STEP_S = 1.0
#: Initial acceptance threshold, as a share of the objective.
ACCEPT_SHARE = 0.002
#: Sub-problems of the decomposition: routes, visits, seconds per solve.
SUB_MAX_ROUTES = 4
SUB_MAX_VISITS = 45
SUB_STEP_S = 0.05
SUB_STEP_PER_VISIT_S = 0.004
#: Time left for OR-Tools to polish SISR's result: share and cap.
POLISH_SHARE = 0.15
POLISH_MAX_S = 1.5
#: Beyond this many visits the improvement step decomposes instead of ruining.
DECOMPOSE_ABOVE = 300
#: Share of the time for the first guided local search before the improvement
#: step: with SISR (up to DECOMPOSE_ABOVE visits), and otherwise.
SISR_FIRST_PHASE_SHARE = 0.1
FIRST_PHASE_SHARE = 0.4


def improve(search: RoutingSearch, best: SearchResult, deadline: float) -> SearchResult:
    """Run the improvement step suited to the problem until ``deadline``.

    Plain VRPTW models get SISR in Python (then an OR-Tools polish) in every
    worker, each with its own seed; on large problems odd workers decompose
    instead, so the two searches differ. Models SISR does not cover use
    OR-Tools only: ruin and recreate, or decomposition when large.
    """
    large = len(search.cm.job_nodes()) > DECOMPOSE_ABOVE
    if uses_sisr(search):
        return sisr_then_polish(search, best, deadline)
    if large:
        return decompose(search, best, deadline)
    return ruin_recreate(search, best, deadline)


def uses_sisr(search: RoutingSearch) -> bool:
    """Whether :func:`improve` runs SISR in this worker."""
    cfg = search.cfg
    large = len(search.cm.job_nodes()) > DECOMPOSE_ABOVE
    plain = not (cfg.minimise_vehicles or cfg.soft_time_windows)
    sisr_here = not large or cfg.worker % 2 == 0
    return plain and sisr_here and sisr.eligible(search.cm, cfg.objective)


def first_phase_share(search: RoutingSearch) -> float:
    """Share of the time for OR-Tools' guided local search before :func:`improve`.

    SISR improves faster than guided local search on problems up to
    :data:`DECOMPOSE_ABOVE` visits, so it gets most of the time there (measured
    on 14 Solomon instances at 10 s: mean gap 1.13% with a 10% first phase,
    1.61% with 40%). Elsewhere the first phase keeps its larger share, which
    also leaves large problems time for their first solution.
    """
    small = len(search.cm.job_nodes()) <= DECOMPOSE_ABOVE
    if small and uses_sisr(search):
        return SISR_FIRST_PHASE_SHARE
    return FIRST_PHASE_SHARE


def sisr_then_polish(
    search: RoutingSearch, best: SearchResult, deadline: float
) -> SearchResult:
    """SISR until shortly before ``deadline``, then a guided local search."""
    polish = min(POLISH_MAX_S, POLISH_SHARE * max(0.0, deadline - time.time()))
    routes, _cost, rounds = sisr.improve_sisr(
        search.cm,
        search.arc_cost,
        search.transit,
        best.routes,
        deadline - polish,
        search.rng,
        search.report,
    )
    left = deadline - time.time()
    cand = search.solve_from(routes, left, gls=True) if left > 0.05 else None
    if cand is None:
        objective = search.objective_of(routes)
        cand = type(best)(routes, objective, best.worker)
    cand.iterations = best.iterations + rounds
    return cand if cand.objective <= best.objective else best


def ruin_recreate(
    search: RoutingSearch, best: SearchResult, deadline: float
) -> SearchResult:
    """Iterated ruin and recreate from ``best`` until ``deadline``."""
    cm = search.cm
    jobs = cm.job_nodes()
    if len(jobs) < 4:
        return best
    near = np.argsort(cm.dist, axis=1)
    current = best
    threshold = ACCEPT_SHARE * best.objective
    start = time.time()
    span = max(1e-3, deadline - start)
    rounds = 0
    while True:
        now = time.time()
        left = deadline - now
        if left < 0.15:
            break
        routes = ruin(search, [list(r) for r in current.routes], jobs, near)
        cand = search.solve_from(routes, min(left - 0.05, RUIN_STEP_S), gls=False)
        rounds += 1
        if cand is None:
            continue
        temp = threshold * max(0.0, 1.0 - (now - start) / span)
        if cand.objective < current.objective + temp:
            current = cand
        if cand.objective < best.objective:
            cand.improvements = best.improvements + 1
            best = cand
    best.iterations += rounds
    return best


def ruin(
    search: RoutingSearch, routes: list[list[int]], jobs: list[int], near: np.ndarray
) -> list[list[int]]:
    """Remove strings of visits near a random seed from up to a few routes.

    Pickup-delivery partners leave together; locked visits always stay.
    """
    cm, rng = search.cm, search.rng
    where = {n: k for k, r in enumerate(routes) for n in r}
    seed = rng.choice(jobs)
    removed: set[int] = set()
    max_routes = rng.randint(1, RUIN_MAX_ROUTES)
    touched: set[int] = set()
    pair_of = dict(cm.pairs) | {d: p for p, d in cm.pairs}
    for cand in near[seed]:
        k = where.get(int(cand))
        if k is None or k in touched:
            continue
        touched.add(k)
        r = routes[k]
        length = rng.randint(1, max(1, min(len(r), RUIN_MAX_STRING)))
        pos = r.index(int(cand))
        lo = max(0, min(pos - rng.randint(0, length - 1), len(r) - length))
        removed.update(r[lo : lo + length])
        if len(touched) >= max_routes:
            break
    removed |= {pair_of[n] for n in removed if n in pair_of}
    removed -= {n for chain in cm.locked.values() for n in chain}
    return [[n for n in r if n not in removed] for r in routes]


def decompose(
    search: RoutingSearch, best: SearchResult, deadline: float
) -> SearchResult:
    """Re-optimise groups of neighbouring routes until ``deadline``."""
    cm, rng = search.cm, search.rng
    routes = [list(r) for r in best.routes]
    locked = set(cm.locked)
    rounds = 0
    while True:
        left = deadline - time.time()
        if left < 0.1:
            break
        used = [k for k, r in enumerate(routes) if r and k not in locked]
        if not used:
            break
        seed = rng.choice(used)
        r0 = routes[seed]
        near = sorted(
            (float(cm.dist[np.ix_(r0, routes[k])].min()), k) for k in used if k != seed
        )
        want = rng.randint(1, SUB_MAX_ROUTES - 1)
        chosen = [seed]
        size = len(r0)
        for _, k in near:
            if len(chosen) > want or size + len(routes[k]) > SUB_MAX_VISITS:
                break
            chosen.append(k)
            size += len(routes[k])
        idle = [k for k, r in enumerate(routes) if not r and k not in locked]
        if idle:
            chosen.append(rng.choice(idle))
        step = min(left - 0.05, SUB_STEP_S + SUB_STEP_PER_VISIT_S * size)
        new = search.sub_search(chosen, [routes[k] for k in chosen], step)
        rounds += 1
        if new is not None:
            for k, r in zip(chosen, new, strict=True):
                routes[k] = r
    objective = search.objective_of(routes)
    best.iterations += rounds
    if objective <= best.objective:
        return type(best)(
            routes, objective, best.worker, best.iterations, best.improvements + 1
        )
    return best
