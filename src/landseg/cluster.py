"""Fan work items out over a Ray cluster (optional extra ``landseg[cluster]``), or run them here.

:func:`map_items` calls ``make_worker()`` once per worker (on a Ray actor: the model is loaded once per
actor) and then the worker on each item; results come back as they finish. A worker that fails with a
:class:`~landseg.errors.LandsegError` reports the message for that item and goes on. A worker process
that dies (killed, out of memory) is restarted by Ray and its item retried (``max_restarts`` /
``max_task_retries``); an item whose retries are spent is reported as failed, the others still run.

Ray workers need the inputs and the output folder at the same paths: a shared file system (NFS,
Lustre, a mounted bucket) on a multi-node cluster; one machine shares its disk trivially.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from landseg.errors import ConfigError, LandsegError

CONNECT_TIMEOUT_S = 10.0
RETRIES = 3  # restarts of a dead worker and retries of its item


@dataclass
class ItemResult:
    """The outcome of one item: ``value`` on success, else the ``error`` message."""

    index: int
    value: Any = None
    error: str | None = None


@dataclass
class ClusterOptions:
    """``address``: None runs in this process; "local" starts a Ray instance on this machine; anything
    else ("HOST:PORT", "ray://HOST:PORT", "auto") joins a running cluster."""

    address: str | None = None
    workers: int | None = None  # default: one per CPU (per GPU with gpus_per_worker)
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    connect_timeout: float = CONNECT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0:
            raise ConfigError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker}")


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install the extra."""
    try:
        import ray  # noqa: PLC0415 - optional extra
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'landseg[cluster]' (or run without --ray, in one process)") \
            from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise :class:`ConfigError` unless a TCP connection to ``address`` ([ray://]HOST:PORT) opens in time."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address}: expected HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT, "
                          "'auto' or no address (a local Ray instance)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"--ray {address}: no Ray cluster answers there within {timeout:g} s ({exc}); "
                          "start one with `ray start --head` on that machine, check the address and port, "
                          "or give --ray without an address to start a local one") from None


def connect(opts: ClusterOptions) -> Any:
    """The ``ray`` module, initialised for ``opts.address`` (an existing session is reused)."""
    ray = import_ray()
    if opts.address not in (None, "local", "auto"):
        check_reachable(opts.address, opts.connect_timeout)
    if ray.is_initialized():
        return ray
    if opts.address in (None, "local"):
        n = opts.workers or os.cpu_count() or 1
        ray.init(num_cpus=max(1, int(n * opts.cpus_per_worker)), include_dashboard=False, log_to_driver=False)
        return ray
    try:
        ray.init(address=opts.address, log_to_driver=False)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        raise ConfigError(f"--ray {opts.address}: cannot join the Ray cluster ({exc})") from None
    return ray


class _Worker:
    """The body of a Ray actor: builds its worker once, then runs items."""

    def __init__(self, make_worker: Callable[[], Callable[[Any], Any]]) -> None:
        self.work = make_worker()

    def run(self, index: int, item: Any) -> ItemResult:
        try:
            return ItemResult(index, self.work(item))
        except LandsegError as exc:
            return ItemResult(index, error=str(exc))

    def pid(self) -> int:
        return os.getpid()


def map_items(make_worker: Callable[[], Callable[[Any], Any]], items: Sequence[Any],
              opts: ClusterOptions | None = None) -> Iterator[ItemResult]:
    """Yield one :class:`ItemResult` per item, in completion order (in order without Ray)."""
    opts = opts or ClusterOptions()
    if opts.address is None:
        work = make_worker()
        for i, item in enumerate(items):
            try:
                yield ItemResult(i, work(item))
            except LandsegError as exc:
                yield ItemResult(i, error=str(exc))
        return
    yield from _ray_map(connect(opts), make_worker, items, opts)


def worker_count(ray: Any, opts: ClusterOptions, n_items: int) -> int:
    """Workers to start: ``opts.workers``, else as many as the cluster's CPUs (GPUs) allow, at most one per item."""
    if opts.workers:
        return max(1, min(opts.workers, n_items))
    res = ray.cluster_resources()
    by_cpu = int(res.get("CPU", 1) // max(opts.cpus_per_worker, 1e-9))
    by_gpu = int(res.get("GPU", 0) // opts.gpus_per_worker) if opts.gpus_per_worker else by_cpu
    return max(1, min(by_cpu, by_gpu, n_items))


def _ray_map(ray: Any, make_worker: Callable[[], Callable[[Any], Any]], items: Sequence[Any],
             opts: ClusterOptions) -> Iterator[ItemResult]:
    if not items:
        return
    actor_cls = ray.remote(num_cpus=opts.cpus_per_worker, num_gpus=opts.gpus_per_worker, max_restarts=RETRIES,
                           max_task_retries=RETRIES)(_Worker)
    def start() -> Any:  # the recipe is small: passed by value, so a restarted actor always finds it
        return actor_cls.remote(make_worker)

    actors = [start() for _ in range(worker_count(ray, opts, len(items)))]
    pending: dict[Any, tuple[int, int]] = {}  # future -> (item index, actor slot)
    queue = list(range(len(items)))[::-1]

    def submit(slot: int) -> None:
        if queue:
            i = queue.pop()
            pending[actors[slot].run.remote(i, items[i])] = (i, slot)

    for slot in range(len(actors)):
        submit(slot)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i, slot = pending.pop(done[0])
            try:
                res = ray.get(done[0])
            except ray.exceptions.RayError as exc:  # worker died beyond its retries, or a bug in it
                res = ItemResult(i, error=f"item {i}: the worker failed ({type(exc).__name__}: {_first_line(exc)})")
                if isinstance(exc, ray.exceptions.RayActorError):
                    actors[slot] = start()
            yield res
            submit(slot)
    finally:
        for a in actors:
            ray.kill(a)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else ""


class Throughput:
    """Items done / total and megapixels per second since start, for a progress line."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.pixels, self.t0 = total, 0, 0, time.perf_counter()

    def add(self, pixels: int) -> str:
        """Count one finished item of ``pixels``; returns the progress line."""
        self.done += 1
        self.pixels += pixels
        dt = max(time.perf_counter() - self.t0, 1e-9)
        return f"{self.done}/{self.total} tiles, {self.pixels / dt / 1e6:.2f} MPix/s"
