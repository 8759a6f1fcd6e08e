"""Slack-induced string removals with simulated annealing, in plain Python.

Our own improvement step for plain VRPTW-shaped models (one window per visit,
delivery-only loads, one travel-time profile, no pairs, breaks, locks or
route limits): SISR (Christiaens and Vanden Berghe, Transportation Science
2020). Each iteration removes strings of nearby visits from a few routes and
reinserts them greedily at their cheapest feasible position (with "blinks",
skipping a position now and then), in a random, demand, far or close order;
the result is accepted by simulated annealing. Feasibility checks are O(1) per
position from each route's earliest and latest service start times.

Costs and times are the solver's scaled integers, so the objective agrees with
OR-Tools'.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from routing.model import CompiledModel

BLINK_RATE = 0.01
#: Annealing temperatures at the start and the end, as shares of a mean arc cost.
SA_START = 1.0
SA_END = 0.01
#: A visit is reinserted only into routes holding one of its this many nearest
#: visits (or an empty route); 0 tries every route.
NEIGHBOURS = 20
MAX_STRING = 10
AVG_REMOVED = 10


@dataclass
class _Data:
    cost: list[list[int]]
    tt: list[list[int]]
    cost_to: list[list[int]]  # transposed: cost_to[u][p] = cost[p][u]
    tt_to: list[list[int]]
    early: list[int]
    late: list[int]
    demand: list[tuple[int, ...]]
    cap: list[tuple[int, ...]]
    starts: list[int]
    ends: list[int]
    allowed: list[set[int] | None]
    v_early: list[int]  # per vehicle: leave no earlier than this
    v_late: list[int]  # per vehicle: back no later than this
    near: np.ndarray
    near_jobs: list[list[int]]  # the NEIGHBOURS nearest job nodes of each node
    dem0: list[int] | None  # demands when there is one dimension


def eligible(cm: CompiledModel, objective: str) -> bool:
    """Whether the model has only what this step models."""
    vs = cm.vehicles
    return (
        objective in ("distance", "time")
        and not cm.pairs
        and not cm.signed_load
        and not cm.locked
        and not cm.forced_vehicle
        and len({v.speed_factor for v in vs}) == 1
        and all(
            v.break_ is None
            and v.max_distance_m is None
            and v.max_stops is None
            and v.max_duration_s is None
            for v in vs
        )
        and all(len(w) <= 1 for w in cm.windows)
    )


def _data(cm: CompiledModel, cost: np.ndarray, tt: np.ndarray) -> _Data:
    s = cm.scale
    near = np.argsort(cm.dist, axis=1)
    jobs = set(cm.job_nodes())
    early, late = [], []
    for ws in cm.windows:
        if ws:
            early.append(ws[0].start_s * s)
            late.append(ws[0].end_s * s)
        else:
            early.append(0)
            late.append(2**60)
    return _Data(
        cost=cost.tolist(),
        tt=tt.tolist(),
        cost_to=cost.T.tolist(),
        tt_to=tt.T.tolist(),
        early=early,
        late=late,
        demand=[tuple(int(q) for q in row) for row in cm.demand],
        cap=[tuple(int(c) for c in v.capacity) for v in cm.vehicles],
        starts=list(cm.starts),
        ends=list(cm.ends),
        allowed=[None if a is None else set(a) for a in cm.allowed],
        v_early=[
            (cm.start_time_s[k] if cm.start_time_s else v.shift.start_s) * s
            for k, v in enumerate(cm.vehicles)
        ],
        v_late=[v.shift.end_s * s for v in cm.vehicles],
        near=near,
        dem0=[int(q) for q in cm.demand[:, 0]] if cm.demand.shape[1] == 1 else None,
        near_jobs=[
            [int(n) for n in row if int(n) in jobs][:NEIGHBOURS] for row in near
        ],
    )


class _Route:
    __slots__ = ("arc", "cost", "k", "latest", "load", "nodes", "seq", "start_t")

    def __init__(self, d: _Data, k: int, nodes: list[int]) -> None:
        self.k = k
        self.nodes = nodes
        self.refresh(d)

    def refresh(self, d: _Data) -> None:
        """Recompute times, slack, arc costs and load after the route changed."""
        k = self.k
        seq = [d.starts[k], *self.nodes, d.ends[k]]
        cost, tt, early, late = d.cost, d.tt, d.early, d.late
        t = d.v_early[k]
        start_t = [t]
        arc = []
        prev = seq[0]
        for b in seq[1:]:
            arc.append(cost[prev][b])
            t += tt[prev][b]
            e = early[b]
            if e > t:
                t = e
            start_t.append(t)
            prev = b
        n = len(seq)
        latest = [0] * n
        z = d.v_late[k]
        latest[-1] = z
        nxt = seq[-1]
        for i in range(n - 2, 0, -1):
            a = seq[i]
            z -= tt[a][nxt]
            lim = late[a]
            if lim < z:
                z = lim
            latest[i] = z
            nxt = a
        self.seq, self.arc, self.start_t, self.latest = seq, arc, start_t, latest
        self.cost = sum(arc)
        if d.dem0 is not None:
            self.load = (sum(map(d.dem0.__getitem__, self.nodes)),)
        else:
            self.load = tuple(
                sum(d.demand[n][i] for n in self.nodes) for i in range(len(d.cap[k]))
            )


def _objective(routes: list[_Route]) -> int:
    return sum(r.cost for r in routes if r.nodes)


def improve_sisr(
    cm: CompiledModel,
    cost: np.ndarray,
    tt: np.ndarray,
    routes: list[list[int]],
    deadline: float,
    rng: random.Random,
    on_best: Callable[[int], None] | None = None,
) -> tuple[list[list[int]], int, int]:
    """Improve complete ``routes`` until ``deadline``.

    ``on_best`` is called with each new best arc cost (for progress reports).

    Returns
    -------
    tuple
        Best routes, their arc cost (solver units) and the number of iterations.
    """
    d = _data(cm, cost, tt)
    cur = [_Route(d, k, list(r)) for k, r in enumerate(routes)]
    cur_obj = _objective(cur)
    best_routes, best_obj = [list(r.nodes) for r in cur], cur_obj
    n_jobs = sum(len(r) for r in routes)
    if n_jobs < 4:
        return best_routes, best_obj, 0
    avg_arc = max(1.0, cur_obj / (n_jobs + len([r for r in routes if r])))
    t_start, t_final = SA_START * avg_arc, SA_END * avg_arc
    t0 = time.time()
    span = max(1e-3, deadline - t0)
    it = 0
    while True:
        now = time.time()
        if now >= deadline:
            break
        frac = (now - t0) / span
        temp = t_start * (t_final / t_start) ** frac
        it += 1
        backup = [r.nodes[:] for r in cur]
        changed: set[int] = set()
        removed = _ruin(d, cur, rng, changed)
        ok = _recreate(d, cur, removed, rng, changed)
        new_obj = _objective(cur)
        threshold = cur_obj - temp * math.log(max(1e-12, rng.random()))
        if ok and new_obj < threshold:
            cur_obj = new_obj
            if new_obj < best_obj:
                best_obj, best_routes = new_obj, [list(r.nodes) for r in cur]
                if on_best is not None:
                    on_best(best_obj)
        else:
            for k in changed:
                cur[k].nodes = backup[k]
                cur[k].refresh(d)
    return best_routes, best_obj, it


def _ruin(
    d: _Data, cur: list[_Route], rng: random.Random, changed: set[int]
) -> list[int]:
    """Remove strings around a random seed visit (SISR's string removal)."""
    where = {n: k for k, r in enumerate(cur) for n in r.nodes}
    seed = rng.choice(list(where))
    used = [r for r in cur if r.nodes]
    avg_len = sum(len(r.nodes) for r in used) / max(1, len(used))
    l_max = min(MAX_STRING, avg_len)
    k_max = 4 * AVG_REMOVED / (1 + l_max) - 1
    n_routes = int(rng.uniform(1, k_max + 1))
    removed: list[int] = []
    for c in d.near[seed]:
        c = int(c)
        k = where.get(c)
        if k is None or k in changed:
            continue
        r = cur[k]
        length = int(rng.uniform(1, min(len(r.nodes), l_max) + 1))
        pos = r.nodes.index(c)
        lo = max(0, min(pos - rng.randint(0, length - 1), len(r.nodes) - length))
        removed += r.nodes[lo : lo + length]
        r.nodes = r.nodes[:lo] + r.nodes[lo + length :]
        r.refresh(d)
        changed.add(k)
        if len(changed) >= n_routes:
            break
    return removed


def _recreate(
    d: _Data,
    cur: list[_Route],
    removed: list[int],
    rng: random.Random,
    changed: set[int],
) -> bool:
    """Greedy cheapest insertion with blinks; ``False`` if a visit fits nowhere."""
    order = rng.randrange(4)
    if order == 0:
        rng.shuffle(removed)
    elif order == 1:
        removed.sort(key=lambda n: -sum(d.demand[n]))
    else:
        depot = d.starts[0]
        removed.sort(key=lambda n: d.cost[depot][n], reverse=order == 2)
    rand = rng.random
    one_dim = len(d.cap[0]) == 1
    where = {n: r for r in cur for n in r.nodes}
    for u in removed:
        if NEIGHBOURS:
            seen: set[int] = set()
            routes = []
            for v in d.near_jobs[u]:
                r = where.get(v)
                if r is not None and r.k not in seen:
                    seen.add(r.k)
                    routes.append(r)
            routes += [r for r in cur if not r.nodes]
        else:
            routes = cur
        best = _best_position(d, u, routes, rand, one_dim)
        if best is None and routes is not cur:
            best = _best_position(d, u, cur, rand, one_dim)
        if best is None:
            return False
        r, i = best
        where[u] = r
        r.nodes.insert(i, u)
        r.refresh(d)
        changed.add(r.k)
    return True


def _best_position(
    d: _Data, u: int, routes: list[_Route], rand: Callable[[], float], one_dim: bool
) -> tuple[_Route, int] | None:
    """Cheapest feasible (route, position) for visit ``u`` among ``routes``."""
    best = None
    best_delta = 2**62
    allowed = d.allowed[u]
    dem = d.demand[u]
    from_u, to_u = d.cost[u], d.cost_to[u]
    tt_from_u, tt_to_u = d.tt[u], d.tt_to[u]
    eu, lu = d.early[u], d.late[u]
    empty_tried = False
    for r in routes:
        if allowed is not None and r.k not in allowed:
            continue
        if one_dim:
            if r.load[0] + dem[0] > d.cap[r.k][0]:
                continue
        elif any(a + b > c for a, b, c in zip(r.load, dem, d.cap[r.k], strict=True)):
            continue
        if not r.nodes:
            if empty_tried:
                continue
            empty_tried = True
        seq, arc, st, lt = r.seq, r.arc, r.start_t, r.latest
        for i in range(len(seq) - 1):
            prev, nxt = seq[i], seq[i + 1]
            delta = to_u[prev] + from_u[nxt] - arc[i]
            if delta >= best_delta:
                continue
            t_u = st[i] + tt_to_u[prev]
            if t_u < eu:
                t_u = eu
            if t_u > lu or t_u + tt_from_u[nxt] > lt[i + 1]:
                continue
            if rand() < BLINK_RATE:
                continue
            best_delta, best = delta, (r, i)
    return best
