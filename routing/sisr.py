"""Slack-induced string removals with simulated annealing, in plain Python.

Our own improvement step for plain VRPTW-shaped models (one window per visit,
delivery-only loads, one travel-time profile, no pairs, breaks, locks or
route limits): SISR (Christiaens and Vanden Berghe, Transportation Science
2020). Each iteration removes strings of nearby visits from a few routes and
reinserts them greedily at their cheapest feasible position (with "blinks",
skipping a position now and then), in a random, demand, far or close order;
the result is accepted by simulated annealing.

The bookkeeping of an iteration is proportional to what it changes, so the
time goes to testing positions (which dominates: about 10 removed visits times
a few dozen positions per iteration, 5,000-7,000 iterations per CPU second on
Solomon instances):

* each route keeps, per position, the earliest service start and the latest
  start that keeps the rest of the route feasible (Savelsbergh's forward and
  backward time slack), so testing a position is O(1);
* removing or inserting a visit updates those arrays incrementally: forward
  from the change until a start time is unchanged, backward until a latest
  start is unchanged, usually a handful of steps;
* an update builds new lists and leaves the old ones intact, so undoing a
  rejected iteration only puts back references (no recomputation), and the
  objective, the visit -> route map and the loads are maintained as deltas;
* a visit is reinserted only into routes holding one of its nearest visits
  (granular neighbourhoods, precomputed once) or into one empty route.

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
#: 2.0 rather than 1.0: mean gap 0.63% against 0.77% (16 Solomon instances,
#: 10 s, same run), the gain on the long routes of the R2 and RC2 families.
SA_START = 2.0
SA_END = 0.01
#: A visit is reinserted only into routes holding one of its this many nearest
#: visits (or an empty route); 0 tries every route.
NEIGHBOURS = 20
MAX_STRING = 10
AVG_REMOVED = 10
#: Probability of a split string (a string with a preserved middle part).
#: Off: at 10 s it measured worse (mean gap 1.89% against 1.28% without, 14
#: Solomon instances, same run), the iterations being too few for it to pay.
SPLIT_RATE = 0.0
#: Probability, per step, of growing the preserved part of a split string.
SPLIT_DEPTH = 0.01


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
    near: np.ndarray  # every node, nearest first
    near_jobs: list[list[int]]  # the NEIGHBOURS nearest job nodes of each node
    dem0: list[int] | None  # demands when there is one dimension
    size: list[int]  # sum of demands (for the "largest first" order)


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
    near = np.argsort(cm.dist, axis=1, kind="stable")
    jobs = set(cm.job_nodes())
    early, late = [], []
    for ws in cm.windows:
        if ws:
            early.append(ws[0].start_s * s)
            late.append(ws[0].end_s * s)
        else:
            early.append(0)
            late.append(2**60)
    demand = [tuple(int(q) for q in row) for row in cm.demand]
    return _Data(
        cost=cost.tolist(),
        tt=tt.tolist(),
        cost_to=cost.T.tolist(),
        tt_to=tt.T.tolist(),
        early=early,
        late=late,
        demand=demand,
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
        near_jobs=[[n for n in row.tolist() if n in jobs][:NEIGHBOURS] for row in near],
        size=[sum(q) for q in demand],
    )


def _forward(
    d: _Data, seq: list[int], st: list[int], j: int, p: int, t: int
) -> list[int] | None:
    """Start times of ``seq[j:]`` after ``p`` served at ``t`` (``None``: too late).

    Stops as soon as a start time equals the old one in ``st``: the rest of
    the route is then unchanged.
    """
    tt, early, late = d.tt, d.early, d.late
    out: list[int] = []
    n = len(seq)
    while j < n:
        x = seq[j]
        t += tt[p][x]
        e = early[x]
        if e > t:
            t = e
        if t == st[j]:
            out += st[j:]
            return out
        if t > late[x]:
            return None
        out.append(t)
        p = x
        j += 1
    return out


def _backward(
    d: _Data, seq: list[int], lt: list[int], k: int, nxt: int, z: int
) -> list[int]:
    """Latest starts of ``seq[:k + 1]`` before ``nxt`` whose latest start is ``z``.

    Stops as soon as a latest start equals the old one in ``lt``.
    """
    tt, late = d.tt, d.late
    out: list[int] = []
    while k >= 1:
        x = seq[k]
        z -= tt[x][nxt]
        lim = late[x]
        if lim < z:
            z = lim
        if z == lt[k]:
            head = lt[: k + 1]
            out.reverse()
            return head + out
        out.append(z)
        nxt = x
        k -= 1
    out.append(lt[0])
    out.reverse()
    return out


class _Route:
    """One vehicle's visits with start times, latest starts, arc costs and load.

    ``seq`` is the full sequence (start node, visits, end node); ``start_t[i]``
    is the earliest service start at ``seq[i]``, ``latest[i]`` the latest start
    at ``seq[i]`` that keeps the rest of the route feasible, ``arc[i]`` the
    cost of ``seq[i] -> seq[i + 1]``. Updates build new lists, so a rejected
    move is undone by putting the old ones back (:meth:`state`).
    """

    __slots__ = ("arc", "cost", "k", "latest", "load", "seq", "start_t")

    def __init__(self, d: _Data, k: int, nodes: list[int]) -> None:
        self.k = k
        self.set_nodes(d, nodes)

    @property
    def nodes(self) -> list[int]:
        """The visits, in order."""
        return self.seq[1:-1]

    def state(self) -> tuple:
        """Everything an update replaces."""
        return (self.seq, self.arc, self.start_t, self.latest, self.cost, self.load)

    def restore(self, state: tuple) -> None:
        """Undo updates back to ``state``."""
        self.seq, self.arc, self.start_t, self.latest, self.cost, self.load = state

    def set_nodes(self, d: _Data, nodes: list[int]) -> None:
        """Recompute times, slack, arc costs and load from scratch."""
        k = self.k
        seq = [d.starts[k], *nodes, d.ends[k]]
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
            self.load = (sum(map(d.dem0.__getitem__, nodes)),)
        else:
            self.load = tuple(
                sum(d.demand[n][i] for n in nodes) for i in range(len(d.cap[k]))
            )

    def remove(self, d: _Data, a: int, b: int) -> bool:
        """Remove the visits ``seq[a:b]``; ``False`` if the rest is infeasible.

        Only possible when travel times break the triangle inequality; the
        caller then rejects the iteration.
        """
        seq, arc, st, lt = self.seq, self.arc, self.start_t, self.latest
        gone = seq[a:b]
        prev, nxt = seq[a - 1], seq[b]
        tail = _forward(d, seq, st, b, prev, st[a - 1])
        if tail is None or tail[-1] > d.v_late[self.k]:
            return False
        c = d.cost[prev][nxt]
        self.cost += c - sum(arc[a - 1 : b])
        self.arc = [*arc[: a - 1], c, *arc[b:]]
        self.start_t = st[:a] + tail
        self.latest = _backward(d, seq, lt, a - 1, nxt, lt[b]) + lt[b:]
        self.seq = seq[:a] + seq[b:]
        if d.dem0 is not None:
            self.load = (self.load[0] - sum(map(d.dem0.__getitem__, gone)),)
        else:
            self.load = tuple(
                q - sum(d.demand[n][i] for n in gone) for i, q in enumerate(self.load)
            )
        return True

    def insert(self, d: _Data, i: int, u: int, t_u: int) -> None:
        """Insert ``u`` after ``seq[i]``, its service starting at ``t_u``.

        The position must have been tested feasible (:func:`_best_position`).
        """
        seq, arc, st, lt = self.seq, self.arc, self.start_t, self.latest
        prev, nxt = seq[i], seq[i + 1]
        c1, c2 = d.cost[prev][u], d.cost[u][nxt]
        self.cost += c1 + c2 - arc[i]
        self.arc = [*arc[:i], c1, c2, *arc[i + 1 :]]
        tail = _forward(d, seq, st, i + 1, u, t_u)
        assert tail is not None  # the position was tested feasible
        self.start_t = [*st[: i + 1], t_u, *tail]
        z = lt[i + 1] - d.tt[u][nxt]
        lim = d.late[u]
        if lim < z:
            z = lim
        self.latest = [*_backward(d, seq, lt, i, u, z), z, *lt[i + 1 :]]
        self.seq = [*seq[: i + 1], u, *seq[i + 1 :]]
        if d.dem0 is not None:
            self.load = (self.load[0] + d.dem0[u],)
        else:
            self.load = tuple(
                q + x for q, x in zip(self.load, d.demand[u], strict=True)
            )


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
    cur_obj = sum(r.cost for r in cur if len(r.seq) > 2)
    best_routes, best_obj = [r.nodes for r in cur], cur_obj
    jobs = [n for r in routes for n in r]
    n_jobs = len(jobs)
    if n_jobs < 4:
        return best_routes, best_obj, 0
    route_of = [-1] * cm.num_nodes
    for r in cur:
        for n in r.seq[1:-1]:
            route_of[n] = r.k
    avg_arc = max(1.0, cur_obj / (n_jobs + len([r for r in routes if r])))
    t_start, t_final = SA_START * avg_arc, SA_END * avg_arc
    t0 = time.time()
    span = max(1e-3, deadline - t0)
    log, rand = math.log, rng.random
    it = 0
    while True:
        now = time.time()
        if now >= deadline:
            break
        frac = (now - t0) / span
        temp = t_start * (t_final / t_start) ** frac
        it += 1
        saved: dict[int, tuple] = {}
        removed = _ruin(d, cur, route_of, jobs, rng, saved)
        ok = removed is not None and _recreate(d, cur, route_of, removed, rng, saved)
        new_obj = cur_obj
        for k, st in saved.items():
            r = cur[k]
            old_cost = st[4] if len(st[0]) > 2 else 0
            new_obj += (r.cost if len(r.seq) > 2 else 0) - old_cost
        threshold = cur_obj - temp * log(max(1e-12, rand()))
        if ok and new_obj < threshold:
            cur_obj = new_obj
            if new_obj < best_obj:
                best_obj, best_routes = new_obj, [r.nodes for r in cur]
                if on_best is not None:
                    on_best(best_obj)
        else:
            for k, st in saved.items():
                cur[k].restore(st)
                for n in st[0][1:-1]:
                    route_of[n] = k
    return best_routes, best_obj, it


def _ruin(
    d: _Data,
    cur: list[_Route],
    route_of: list[int],
    jobs: list[int],
    rng: random.Random,
    saved: dict[int, tuple],
) -> list[int] | None:
    """Remove strings around a random seed visit (SISR's string removals).

    Each touched route loses a string of nearby visits or, with probability
    :data:`SPLIT_RATE`, a "split string": a longer string of which a middle
    part stays. ``None`` when a removal left a route infeasible.
    """
    seed = rng.choice(jobs)
    used = sum(1 for r in cur if len(r.seq) > 2)
    avg_len = len(jobs) / max(1, used)
    l_max = min(MAX_STRING, avg_len)
    k_max = 4 * AVG_REMOVED / (1 + l_max) - 1
    n_routes = int(rng.uniform(1, k_max + 1))
    removed: list[int] = []
    uniform, randint, rand = rng.uniform, rng.randint, rng.random
    for c in d.near[seed].tolist():
        k = route_of[c]
        if k < 0 or k in saved:
            continue
        r = cur[k]
        seq = r.seq
        size = len(seq) - 2
        saved[k] = r.state()
        length = int(uniform(1, min(size, l_max) + 1))
        pos = seq.index(c, 1) - 1  # visit position
        if length < size and rand() < SPLIT_RATE:
            keep = 1
            while length + keep < size and rand() > SPLIT_DEPTH:
                keep += 1
            span = length + keep
            lo = max(0, min(pos - randint(0, span - 1), size - span))
            cut = lo + randint(0, length)  # kept visits start here
            # keep seq positions [cut + 1, cut + 1 + keep); remove the rest
            gone = seq[lo + 1 : cut + 1] + seq[cut + 1 + keep : lo + 1 + span]
            if not r.remove(d, cut + 1 + keep, lo + 1 + span) or not r.remove(
                d, lo + 1, cut + 1
            ):
                return None
        else:
            lo = max(0, min(pos - randint(0, length - 1), size - length))
            gone = seq[lo + 1 : lo + 1 + length]
            if not r.remove(d, lo + 1, lo + 1 + length):
                return None
        for n in gone:
            route_of[n] = -1
        removed += gone
        if len(saved) >= n_routes:
            break
    return removed


def _recreate(
    d: _Data,
    cur: list[_Route],
    route_of: list[int],
    removed: list[int],
    rng: random.Random,
    saved: dict[int, tuple],
) -> bool:
    """Greedy cheapest insertion with blinks; ``False`` if a visit fits nowhere."""
    order = rng.randrange(4)
    if order == 0:
        rng.shuffle(removed)
    elif order == 1:
        removed.sort(key=d.size.__getitem__, reverse=True)
    else:
        removed.sort(key=d.cost[d.starts[0]].__getitem__, reverse=order == 2)
    rand = rng.random
    one_dim = len(d.cap[0]) == 1
    empty = [r for r in cur if len(r.seq) == 2]
    for u in removed:
        if NEIGHBOURS:
            # routes of u's nearest visits, nearest first, without repeats
            ks = dict.fromkeys([route_of[v] for v in d.near_jobs[u]])
            routes = [cur[k] for k in ks if k >= 0]
            routes += empty
        else:
            routes = cur
        best = _best_position(d, u, routes, rand, one_dim)
        if best is None and routes is not cur:
            best = _best_position(d, u, cur, rand, one_dim)
        if best is None:
            return False
        r, i, t_u = best
        if r.k not in saved:
            saved[r.k] = r.state()
        if len(r.seq) == 2:
            empty = [e for e in empty if e is not r]
        r.insert(d, i, u, t_u)
        route_of[u] = r.k
    return True


def _best_position(
    d: _Data, u: int, routes: list[_Route], rand: Callable[[], float], one_dim: bool
) -> tuple[_Route, int, int] | None:
    """Cheapest feasible (route, position, start time) for ``u`` in ``routes``."""
    best = None
    best_delta = 2**62
    allowed = d.allowed[u]
    dem = d.demand[u]
    dem0 = dem[0] if dem else 0
    cap = d.cap
    from_u, to_u = d.cost[u], d.cost_to[u]
    tt_from_u, tt_to_u = d.tt[u], d.tt_to[u]
    eu, lu = d.early[u], d.late[u]
    empty_tried = False
    for r in routes:
        if allowed is not None and r.k not in allowed:
            continue
        if one_dim:
            if r.load[0] + dem0 > cap[r.k][0]:
                continue
        elif any(a + b > c for a, b, c in zip(r.load, dem, cap[r.k], strict=True)):
            continue
        seq = r.seq
        if len(seq) == 2:
            if empty_tried:
                continue
            empty_tried = True
        # start times only grow along a route, so once u would start too late
        # after a stop it is too late after every later stop (times obeying
        # the triangle inequality; otherwise a position is merely missed)
        st, lt, arc = r.start_t, r.latest, r.arc
        for i in range(len(seq) - 1):
            prev = seq[i]
            nxt = seq[i + 1]
            delta = to_u[prev] + from_u[nxt] - arc[i]
            if delta >= best_delta:
                continue
            t_u = st[i] + tt_to_u[prev]
            if t_u < eu:
                t_u = eu
            elif t_u > lu:
                break
            if t_u + tt_from_u[nxt] > lt[i + 1]:
                continue
            if rand() < BLINK_RATE:
                continue
            best_delta, best = delta, (r, i, t_u)
    return best
