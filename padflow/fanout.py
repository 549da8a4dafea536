"""Fan-out: the one way a stage runs its per-item work (one video, one evaluation job) in parallel.

Stages keep their work in plain functions of one item (`extract_video(job)`, `ingest_one(job)`,
`run_job(job)`); `fan_out` maps such a function over the items on the runner
`params.yaml: orchestration.task_runner` picks, and returns the results in input order:

    kind: process   a pool of `workers` local processes (concurrent.futures, spawned: safe with
                    torch and threads in the parent; arguments and results travel by cloudpickle)
    kind: thread    `workers` threads of the stage's process
    kind: dask      a dask.distributed Client: a LocalCluster of `workers` processes on 127.0.0.1,
                    or the existing cluster whose scheduler is at `address` (Kubernetes, SLURM
                    through dask-jobqueue, ...; its workers need the project folder at the same path)

A stage can have a runner of its own in `orchestration.stage_runners` (its fields are laid over
`task_runner`'s): on 2 cores extract runs fastest on threads (one process, one copy of the parser
and the template features, no interpreter start-up per worker; decoding, SIFT and torch release
the GIL), while evaluation's game loops are Python and need processes.

`workers` is each stage's own knob (`ingest.workers`, `extract.workers`, `evaluate.workers`, ...):
stages differ in how much memory and how many threads one item takes. With one worker (or one
item) on a local runner there is nothing to spread, so the items run in the stage's process with
no pool; a `dask` runner always sends them to the cluster.

Results never depend on the runner or the worker count: every item carries its own seed and
writes only its own outputs. The runner is not a DVC param of any stage for that reason.
Prefect is not involved here: it orchestrates the stages (flows/pipeline.py), not their items.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import cloudpickle  # a dask dependency: functions by value, both ways
from pydantic import Field

from padflow import progress as progress_display
from padflow.config import config, from_mapping

T = TypeVar("T")
R = TypeVar("R")

RunnerKind = Literal["process", "thread", "dask"]
SECTION = "orchestration.task_runner"
STAGE_SECTION = "orchestration.stage_runners"
# The stages (and the `suite` command) whose per-item work fan_out maps: each may have its own
# entry in orchestration.stage_runners.
FAN_OUT_STAGES = ("corpus", "ingest", "parser_train", "extract", "evaluate", "suite")
# A Dask scheduler address: protocol://host:port (tcp, tls, ucx, ws, ...) or host:port.
ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^\s/:]+:\d{1,5}$|^[a-z][a-z0-9+.-]*://\[[0-9a-fA-F:]+\]:\d{1,5}$")


@config
class TaskRunnerConfig:
    kind: Annotated[RunnerKind, Field(description=(
        "where per-item work runs: process (local processes), thread (threads of the stage's process) "
        "or dask (a LocalCluster of `workers` processes, or the cluster at `address`)"))] = "process"
    address: Annotated[str | None, Field(description=(
        "dask only: scheduler of an existing cluster, e.g. tcp://10.0.0.5:8786; null = a LocalCluster "
        "on this machine"))] = None
    threads_per_worker: Annotated[int, Field(ge=1, description=(
        "dask LocalCluster: threads per worker process; 1 because stages size their own torch/FFmpeg "
        "threads"))] = 1

    def __post_init__(self) -> None:
        if self.address is not None:
            if self.kind != "dask":
                raise ValueError(f"address: only a dask runner connects to a scheduler, but kind is {self.kind!r}")
            if not ADDRESS.match(self.address):
                raise ValueError(f"address: expected a Dask scheduler address like tcp://host:8786, got {self.address!r}")


def runner_config(params: dict[str, Any], stage: str | None = None) -> TaskRunnerConfig:
    """The task runner of `stage`: `orchestration.task_runner`, with the stage's entry of
    `orchestration.stage_runners` laid over it (defaults when absent)."""
    orchestration = params.get("orchestration") or {}
    if not isinstance(orchestration, dict):
        raise ValueError(f"orchestration: expected a mapping, got {type(orchestration).__name__}")
    base = orchestration.get("task_runner") or {}
    if not isinstance(base, dict):
        raise ValueError(f"{SECTION}: expected a mapping, got {type(base).__name__}")
    overrides = orchestration.get("stage_runners") or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise ValueError(f"{STAGE_SECTION}: expected a mapping of stage name to runner settings, got {overrides!r}")
    unknown = sorted(set(overrides) - set(FAN_OUT_STAGES))
    if unknown:
        raise ValueError(f"{STAGE_SECTION}: {', '.join(unknown)} fan(s) nothing out; stages that do: {', '.join(FAN_OUT_STAGES)}")
    if stage is None or stage not in overrides:
        return from_mapping(TaskRunnerConfig, base, SECTION)
    return from_mapping(TaskRunnerConfig, {**base, **overrides[stage]}, f"{STAGE_SECTION}.{stage}")


def fan_out(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    name: str,
    runner: TaskRunnerConfig,
    workers: int,
    labels: Sequence[str] | None = None,
    setup: Callable[[], None] | None = None,
    on_error: Callable[[T, BaseException], R] | None = None,
    progress: Callable[[int, int, R], None] | None = None,
    unit: str = "items",
) -> list[R]:
    """`[fn(item) for item in items]` on `runner`, `workers` at a time, results in input order.

    `fn`, `items` and `setup` must pickle with cloudpickle (functions, functools.partial,
    dataclasses), and so must the results. `setup()` runs once in each worker process before
    its first item (torch threads, a model to load); thread runners share the stage's process,
    so it runs once for all of them. `labels` name the items (Dask task keys, error messages).
    An item whose call raises (or whose worker process dies: BrokenProcessPool, Dask's
    KilledWorker) becomes `on_error(item, exception)`; without `on_error` the first error
    propagates and the items not started yet are cancelled. A `setup` that raises (or whose process
    dies before taking an item) is no item's error: the fan-out raises "could not start" at once.
    `progress(done, total, result)` is
    called in this process, in this thread, as each item finishes. Progress is shown as `name`
    (padflow.progress: a bar on a terminal, a line every few seconds elsewhere), counting `unit`.
    """
    items = list(items)
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    labels = [str(i) for i in range(len(items))] if labels is None else [str(label) for label in labels]
    if len(labels) != len(items):
        raise ValueError(f"labels: {len(labels)} labels for {len(items)} items")
    if not items:
        return []
    with progress_display.bar(name, total=len(items), unit=unit) as shown:
        return _fan_out(fn, items, name, runner, workers, labels, setup, _Collector(name, items, labels, on_error, progress, shown))


def _fan_out(fn, items: list, name: str, runner: TaskRunnerConfig, workers: int, labels: list[str],
             setup: Callable[[], None] | None, collect: _Collector) -> list:
    once = None if setup is None else _Once(f"{name}-{uuid.uuid4().hex}", setup)
    if runner.kind != "dask" and (workers == 1 or len(items) == 1):
        for i, item in enumerate(items):
            try:
                result = _call(fn, item, once)
            except Exception as exc:
                collect.failed(i, exc)
            else:
                collect.done(i, result)
        return collect.results()
    workers = min(workers, len(items))
    if runner.kind == "dask":
        return _on_dask(fn, items, labels, once, collect, name, runner, workers)
    if runner.kind == "process":
        return _on_processes(fn, items, setup, collect, workers)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    futures = [pool.submit(_call, fn, item, once) for item in items]
    try:
        position = {future: i for i, future in enumerate(futures)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=position.__getitem__):
                _settle(collect, position[future], future, unpickle=False)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return collect.results()


def _on_processes(fn, items: list, setup: Callable[[], None] | None, collect: _Collector, workers: int) -> list:
    """The items on a pool of `workers` spawned processes; a fresh pool after a dead worker broke one.

    One dead worker breaks a whole ProcessPoolExecutor: every unfinished future gets the same
    BrokenProcessPool, the initializer's exception stays in the worker's log, and nothing says which
    item's process died, or that none had taken an item yet (what a setup that raises, calls
    os._exit or is killed for memory looks like). Taken for item errors, that gave every item of the
    stage to on_error. So the workers mark the items they start in shared memory and send setup's
    exception back. A pool that broke before any item started: the stage fails as "could not
    start" (no retry: a fresh pool would fail alike). One item had started (and every worker had
    set up): that item failed. Several (the dead worker's and those the pool then killed): each
    reruns alone to find which. Items not started go to a fresh pool.
    """
    context = multiprocessing.get_context("spawn")
    pickled_fn, pickled_setup = cloudpickle.dumps(fn), cloudpickle.dumps(setup)
    rounds = [(list(range(len(items))), workers)]
    while rounds:
        batch, width = rounds.pop(0)
        width = min(width, len(batch))
        started, ready, setup_errors = context.Array("b", len(items), lock=False), context.Value("i", 0), context.SimpleQueue()
        pool = ProcessPoolExecutor(max_workers=width, mp_context=context, initializer=_start_worker,
                                   initargs=(pickled_setup, started, ready, setup_errors))
        futures = {pool.submit(_call_in_pool, pickled_fn, cloudpickle.dumps(items[i]), i): i for i in batch}
        broken: dict[int, BaseException] = {}
        try:
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=futures.__getitem__):
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken[futures[future]] = future.exception()
                    else:
                        _settle(collect, futures[future], future, unpickle=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if not broken:
            continue
        if not setup_errors.empty():
            raise _could_not_start(collect.name, cloudpickle.loads(setup_errors.get()))
        cause = next(iter(broken.values()))
        in_flight = [i for i in broken if started[i]]
        if not in_flight:
            raise _could_not_start(collect.name, cause, "its process died before taking an item (setup exited, or it was killed)")
        if len(in_flight) == 1 and (width == 1 or ready.value == width):
            error = BrokenProcessPool(f"{collect.name}: item {collect.labels[in_flight[0]]}: its worker process died "
                                      "(it exited, or was killed, e.g. for memory)")
            error.__cause__ = cause
            collect.failed(in_flight[0], error)
        else:
            rounds.insert(0, (in_flight, 1))
        not_started = [i for i in broken if not started[i]]
        if not_started:
            rounds.append((not_started, width))
    return collect.results()


class _Collector:
    """Results by input position, `on_error` for failures, `progress` and the shown bar as each item settles."""

    def __init__(self, name: str, items: list, labels: list[str], on_error: Callable | None, progress: Callable | None,
                 shown: progress_display.Bar) -> None:
        self.name, self.items, self.labels, self.on_error, self.progress, self.shown = name, items, labels, on_error, progress, shown
        self.by_position: dict[int, Any] = {}

    def done(self, i: int, result: Any) -> None:
        self.by_position[i] = result
        self.shown.advance(note=self.labels[i])
        if self.progress is not None:
            self.progress(len(self.by_position), len(self.items), result)

    def failed(self, i: int, exc: BaseException) -> None:
        if isinstance(exc, _SetupFailed):  # no item's fault: the stage fails, rather than on_error for every item
            raise _could_not_start(self.name, exc.args[0])
        if self.on_error is None:
            raise exc
        self.done(i, self.on_error(self.items[i], exc))

    def results(self) -> list:
        return [self.by_position[i] for i in range(len(self.items))]


def _settle(collect: _Collector, i: int, future: Future, unpickle: bool) -> None:
    try:
        result = future.result()
    except Exception as exc:  # the item's own error, or its worker process died (BrokenProcessPool)
        collect.failed(i, exc)
        return
    if unpickle:
        result = cloudpickle.loads(result)
    collect.done(i, result)


class _SetupFailed(Exception):
    """`setup()` raised (args[0]) in a worker: raised in place of the item that worker was given."""


def _could_not_start(name: str, cause: BaseException, why: str = "") -> RuntimeError:
    why = why or f"its setup failed ({type(cause).__name__}: {cause})"
    error = RuntimeError(f"{name}: a worker could not start: {why}")
    error.__cause__, error.__suppress_context__ = cause, True
    return error


@dataclass(frozen=True)
class _Once:
    """A setup callable to run once per process (per fan-out), before that process's first item."""

    token: str
    setup: Callable[[], None]


_DONE: set[str] = set()
_SETUP_LOCK = threading.Lock()  # threads share the process: one thread sets up, the others wait


def _call(fn: Callable[[Any], Any], item: Any, once: _Once | None) -> Any:
    """One item in this process (inline, a thread, a Dask worker): set the process up if it is new, then do it."""
    if once is not None:
        with _SETUP_LOCK:
            if once.token not in _DONE:
                try:
                    once.setup()
                except Exception as exc:
                    raise _SetupFailed(exc) from exc
                _DONE.add(once.token)
    return fn(item)


_STARTED: Any = None  # in a pool process: the flags _call_in_pool sets (_on_processes)


def _start_worker(pickled_setup: bytes, started: Any, ready: Any, setup_errors: Any) -> None:
    """A process pool's initializer: run the cloudpickled setup; send its exception to the parent
    (_on_processes), or count this worker ready."""
    global _STARTED
    _STARTED = started
    try:
        setup = cloudpickle.loads(pickled_setup)
        if setup is not None:
            setup()
    except BaseException as exc:  # SystemExit too; os._exit and kills send nothing (_on_processes)
        try:
            pickled = cloudpickle.dumps(exc)
        except Exception:
            pickled = b""
        if not 0 < len(pickled) <= 3000:  # one atomic pipe write: a worker the broken pool kills mid-write tears nothing
            pickled = cloudpickle.dumps(RuntimeError(f"{type(exc).__name__}: {str(exc)[:500]}"))
        setup_errors.put(pickled)
        raise
    with ready.get_lock():
        ready.value += 1


def _call_in_pool(pickled_fn: bytes, pickled_item: bytes, position: int) -> bytes:
    """One item in a pool process, marked started first (_on_processes)."""
    _STARTED[position] = 1
    return _call_pickled(pickled_fn, pickled_item)


def _call_pickled(pickled_fn: bytes, pickled_item: bytes, pickled_once: bytes | None = None) -> bytes:
    """One item in a pool process or on a Dask worker; cloudpickle both ways (plain pickle would
    send functions by reference), so functions defined by value (tests, notebooks) travel too."""
    once = None if pickled_once is None else cloudpickle.loads(pickled_once)
    return cloudpickle.dumps(_call(cloudpickle.loads(pickled_fn), cloudpickle.loads(pickled_item), once))


def _client_security(address: str) -> Any:
    """Dask's client security from its configuration (DASK_DISTRIBUTED__COMM__TLS__... or
    ~/.config/dask/distributed.yaml); a tls:// scheduler without a CA and a client certificate there
    is a ValueError that names them, not Dask's TypeError about an SSL context."""
    from distributed.security import Security  # heavy: only when a stage runs on Dask

    security = Security()
    if address.startswith("tls://"):
        missing = [key for key, value in (("distributed.comm.tls.ca-file", security.tls_ca_file),
                                          ("distributed.comm.tls.client.cert", security.tls_client_cert))
                   if not value]  # fmt: skip
        if missing:
            raise ValueError(f"{SECTION}.address {address}: a TLS scheduler needs Dask's {' and '.join(missing)} "
                             f"(environment DASK_DISTRIBUTED__COMM__TLS__..., docs/operations.md)")
    return security


def _on_dask(fn, items, labels, once, collect: _Collector, name: str, runner: TaskRunnerConfig, workers: int) -> list:
    from distributed import Client, LocalCluster, as_completed  # heavy (~1 s): only when a stage runs on Dask

    if runner.address:
        cluster = None
        client = Client(runner.address, security=_client_security(runner.address))
    else:
        # processes: the per-item work is CPU-bound Python (decoding, SIFT, torch) that threads
        # would serialize on the GIL. Loopback only and no dashboard: nothing listens beyond this machine.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=runner.threads_per_worker, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        run = uuid.uuid4().hex[:8]
        pickled_fn, pickled_once = cloudpickle.dumps(fn), None if once is None else cloudpickle.dumps(once)
        futures = [client.submit(_call_pickled, pickled_fn, cloudpickle.dumps(item), pickled_once,
                                 key=f"{name}-{label}-{run}-{i}", pure=False)
                   for i, (item, label) in enumerate(zip(items, labels))]
        position = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                i = position[future.key]
                try:
                    result = cloudpickle.loads(future.result())
                except Exception as exc:  # the item's own error, or KilledWorker when its worker died
                    collect.failed(i, exc)
                else:
                    collect.done(i, result)
        finally:
            client.cancel([f for f in futures if not f.done()])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return collect.results()
