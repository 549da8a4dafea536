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
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
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
    propagates and the items not started yet are cancelled. `progress(done, total, result)` is
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
        return _fan_out(fn, items, name, runner, workers, labels, setup, _Collector(items, labels, on_error, progress, shown))


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
    if runner.kind == "thread":
        pool: Executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        futures = [pool.submit(_call, fn, item, once) for item in items]
    else:
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=None if setup is None else _unpickle_and_call, initargs=() if setup is None else (cloudpickle.dumps(setup),),
        )
        pickled_fn = cloudpickle.dumps(fn)
        futures = [pool.submit(_call_pickled, pickled_fn, cloudpickle.dumps(item)) for item in items]
    try:
        position = {future: i for i, future in enumerate(futures)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=position.__getitem__):
                _settle(collect, position[future], future, unpickle=runner.kind == "process")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return collect.results()


class _Collector:
    """Results by input position, `on_error` for failures, `progress` and the shown bar as each item settles."""

    def __init__(self, items: list, labels: list[str], on_error: Callable | None, progress: Callable | None,
                 shown: progress_display.Bar) -> None:
        self.items, self.labels, self.on_error, self.progress, self.shown = items, labels, on_error, progress, shown
        self.by_position: dict[int, Any] = {}

    def done(self, i: int, result: Any) -> None:
        self.by_position[i] = result
        self.shown.advance(note=self.labels[i])
        if self.progress is not None:
            self.progress(len(self.by_position), len(self.items), result)

    def failed(self, i: int, exc: BaseException) -> None:
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
                once.setup()
                _DONE.add(once.token)
    return fn(item)


def _unpickle_and_call(pickled: bytes) -> None:
    """A process pool's initializer: run the cloudpickled setup."""
    cloudpickle.loads(pickled)()


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
