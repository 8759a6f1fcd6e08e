"""Run several searches in parallel processes, with progress and hard deadlines.

Each worker process receives the compiled model (plain arrays), a search
configuration and an absolute deadline, and sends back its best routes. The
parent kills any worker that overruns the deadline by more than
:data:`GRACE_S`, so a solve never hangs. Progress events (elapsed seconds,
best objective so far) flow through a queue to a helper thread that calls the
caller's callback. Workers share their best routes through an
:class:`EliteBoard` in shared memory, so a worker stuck in a worse region can
continue from a better one.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Seconds a worker may overrun its deadline before it is killed.
GRACE_S = 1.5
#: Minimum seconds between two progress events of one worker.
REPORT_EVERY_S = 0.1


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress report: elapsed seconds and best objective so far."""

    elapsed_s: float
    best_objective: float
    worker: int


ProgressCallback = Callable[[Progress], None]
#: ``search(cm, cfg, deadline, report, board)`` returns a result or ``None``.
SearchFn = Callable[
    [Any, Any, float, Callable[[int], None] | None, "EliteBoard | None"], Any
]


class EliteBoard:
    """Shared memory where parallel workers post their best routes for each other.

    One slot per worker: the objective (``-1`` while empty), then the routes
    flattened, each vehicle's visits followed by ``-1``. A worker posts its best
    now and then and, at agreed moments, takes over another worker's routes
    when they are better than its own (see :mod:`routing.sisr`).
    """

    def __init__(self, ctx: Any, workers: int, vehicles: int, nodes: int) -> None:
        self.size = 1 + vehicles + nodes
        self._slots = [ctx.Array("q", [-1] * self.size) for _ in range(workers)]

    def post(self, worker: int, objective: int, routes: list[list[int]]) -> None:
        """Publish ``worker``'s best ``routes`` and their ``objective``."""
        flat = [objective]
        for r in routes:
            flat += r
            flat.append(-1)
        flat += [-1] * (self.size - len(flat))
        slot = self._slots[worker]
        with slot.get_lock():
            slot[:] = flat

    def best_other(self, worker: int) -> tuple[int, list[list[int]]] | None:
        """The best routes another worker posted, with their objective."""
        best = None
        for w, slot in enumerate(self._slots):
            if w == worker:
                continue
            with slot.get_lock():
                flat = slot[:]
            if flat[0] < 0 or (best is not None and flat[0] >= best[0]):
                continue
            routes: list[list[int]] = [[]]
            for n in flat[1:]:
                if n >= 0:
                    routes[-1].append(n)
                else:
                    routes.append([])
            best = (flat[0], routes)
        return best

    def exchange(
        self, worker: int
    ) -> Callable[[int, list[list[int]]], tuple[int, list[list[int]]] | None]:
        """``share(objective, routes)`` for ``worker``: post, return a better one."""

        def share(
            objective: int, routes: list[list[int]]
        ) -> tuple[int, list[list[int]]] | None:
            self.post(worker, objective, routes)
            other = self.best_other(worker)
            if other is None or other[0] >= objective:
                return None
            return other[0], other[1][: len(routes)]

        return share


def _worker(
    search: SearchFn,
    cm: Any,
    cfg: Any,
    deadline: float,
    out: mp.Queue,
    events: mp.Queue | None,
    board: EliteBoard | None,
) -> None:  # pragma: no cover - runs in the child process
    best: list[int | None] = [None]
    last = [0.0]

    def report(cost: int) -> None:
        now = time.time()
        if events is None or (best[0] is not None and cost >= best[0]):
            return
        if now - last[0] >= REPORT_EVERY_S:
            best[0], last[0] = cost, now
            events.put((cfg.worker, now, cost))

    try:
        out.put(("ok", search(cm, cfg, deadline, report if events else None, board)))
    except Exception as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def run_searches(
    search: SearchFn,
    cm: Any,
    configs: list[Any],
    deadline: float,
    t0: float,
    progress: ProgressCallback | None,
    divisor: float,
) -> tuple[list[Any], list[str]]:
    """Run one search per config (in-process when there is one); return results.

    Returns
    -------
    tuple
        Results that arrived before the deadline plus grace, and error texts.
    """
    if len(configs) == 1:

        def report(cost: int) -> None:
            if progress is not None:
                progress(Progress(time.time() - t0, cost / divisor, 0))

        res = search(cm, configs[0], deadline, report if progress else None, None)
        return ([res] if res is not None else []), []
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    out: mp.Queue = ctx.Queue()
    events: mp.Queue | None = ctx.Queue() if progress is not None else None
    board = EliteBoard(ctx, len(configs), len(cm.vehicles), cm.num_nodes)
    procs = [
        ctx.Process(
            target=_worker,
            args=(search, cm, cfg, deadline, out, events, board),
            daemon=True,
        )
        for cfg in configs
    ]
    for p in procs:
        p.start()
    stop = threading.Event()
    pump = None
    if events is not None and progress is not None:
        pump = threading.Thread(
            target=_pump, args=(events, progress, t0, divisor, stop), daemon=True
        )
        pump.start()
    results: list[Any] = []
    errors: list[str] = []
    try:
        for _ in procs:
            wait = deadline + GRACE_S - time.time()
            try:
                status, payload = out.get(timeout=max(0.01, wait))
            except queue.Empty:
                break
            if status == "ok" and payload is not None:
                results.append(payload)
            elif status == "error":
                errors.append(payload)
    finally:
        for p in procs:
            p.join(timeout=0.2)
            if p.is_alive():
                p.kill()
                p.join(timeout=1.0)
        stop.set()
        if pump is not None:
            pump.join(timeout=1.0)
    return results, errors


def _pump(
    events: mp.Queue,
    progress: ProgressCallback,
    t0: float,
    divisor: float,
    stop: threading.Event,
) -> None:
    best = None
    while not stop.is_set():
        try:
            _worker_id, now, cost = events.get(timeout=0.05)
        except queue.Empty:
            continue
        if best is None or cost < best:
            best = cost
            progress(Progress(now - t0, cost / divisor, _worker_id))
