"""Run several searches in parallel processes, with progress and hard deadlines.

Each worker process receives the compiled model (plain arrays), a search
configuration and an absolute deadline, and sends back its best routes. The
parent kills any worker that overruns the deadline by more than
:data:`GRACE_S`, so a solve never hangs. Progress events (elapsed seconds,
best objective so far) flow through a queue to a helper thread that calls the
caller's callback.
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
#: ``search(cm, cfg, deadline, report)`` returns a result or ``None``.
SearchFn = Callable[[Any, Any, float, Callable[[int], None] | None], Any]


def _worker(
    search: SearchFn,
    cm: Any,
    cfg: Any,
    deadline: float,
    out: mp.Queue,
    events: mp.Queue | None,
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
        out.put(("ok", search(cm, cfg, deadline, report if events else None)))
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

        res = search(cm, configs[0], deadline, report if progress else None)
        return ([res] if res is not None else []), []
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    out: mp.Queue = ctx.Queue()
    events: mp.Queue | None = ctx.Queue() if progress is not None else None
    procs = [
        ctx.Process(
            target=_worker, args=(search, cm, cfg, deadline, out, events), daemon=True
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
