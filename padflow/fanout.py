"""Fan-out: a stage's per-item work (one video, one evaluation job) as mapped Prefect tasks.

Stages keep their work in plain functions of one item (`extract_video(job)`, `ingest_one(job)`,
`run_job(job)`); `fan_out` maps such a function over the items inside a Prefect flow, on the task
runner `params.yaml: orchestration.task_runner` picks, and returns the results in input order:

    kind: process   ProcessPoolTaskRunner, `workers` local processes (the default)
    kind: thread    ThreadPoolTaskRunner, `workers` threads of the stage's process
    kind: dask      prefect-dask's DaskTaskRunner: a LocalCluster of `workers` processes, or the
                    existing cluster whose scheduler is at `address` (Kubernetes, SLURM through
                    dask-jobqueue, ...; its workers need the project folder at the same path)

A stage can have a runner of its own in `orchestration.stage_runners` (its fields are laid over
`task_runner`'s): on 2 cores extract runs fastest on threads (one process, one copy of the parser
and the template features, no interpreter start-up per worker; decoding, SIFT and torch release
the GIL), while evaluation's game loops are Python and need processes.

`workers` is each stage's own knob (`ingest.workers`, `extract.workers`, `evaluate.workers`):
stages differ in how much memory and how many threads one item takes. With one worker on a local
runner there is nothing to spread, so the items run in the stage's process with no engine (no
Prefect server to start); a `dask` runner always sends them to the cluster.

Results never depend on the runner or the worker count: every item carries its own seed and
writes only its own outputs. The runner is not a DVC param of any stage for that reason.

Prefect API: task runs report to $PREFECT_API_URL. Without one, the stage starts Prefect's
temporary local server once (~10 s here) and hands its address to the worker processes, so they
report to it instead of each starting one of their own.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from padflow.config import from_mapping

T = TypeVar("T")
R = TypeVar("R")

RunnerKind = Literal["process", "thread", "dask"]
SECTION = "orchestration.task_runner"
STAGE_SECTION = "orchestration.stage_runners"
FAN_OUT_STAGES = ("ingest", "extract", "evaluate")  # the stages whose per-item work fan_out maps
SERVER_STARTUP_TIMEOUT_S = 60  # Prefect's temporary server needs ~10-14 s on 2 busy cores; its default is 20
# A Dask scheduler address: protocol://host:port (tcp, tls, ucx, ws, ...) or host:port.
ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?[^\s/:]+:\d{1,5}$|^[a-z][a-z0-9+.-]*://\[[0-9a-fA-F:]+\]:\d{1,5}$")


@dataclass(frozen=True)
class TaskRunnerConfig:
    kind: RunnerKind = "process"  # where mapped per-item tasks run: process | thread | dask
    address: str | None = None  # dask only: scheduler of an existing cluster, e.g. tcp://10.0.0.5:8786; null = a LocalCluster
    threads_per_worker: int = 1  # dask LocalCluster: threads per worker process; 1 because stages size their own torch/FFmpeg threads

    def __post_init__(self) -> None:
        if self.threads_per_worker < 1:
            raise ValueError(f"threads_per_worker: must be >= 1, got {self.threads_per_worker}")
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


def make_task_runner(cfg: TaskRunnerConfig, workers: int) -> Any:
    """The Prefect task runner `cfg` names, sized to `workers` (ignored for an existing Dask cluster)."""
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    if cfg.kind == "thread":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if cfg.kind == "process":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=workers)
    from prefect_dask import DaskTaskRunner

    if cfg.address:
        return DaskTaskRunner(address=cfg.address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        # processes: the per-item work is CPU-bound Python (decoding, SIFT, torch) that threads
        # would serialize on the GIL. Loopback only and no dashboard: nothing listens beyond this machine.
        cluster_kwargs={"n_workers": workers, "threads_per_worker": cfg.threads_per_worker, "processes": True,
                        "host": "127.0.0.1", "dashboard_address": None},
    )


@dataclass(frozen=True)
class _Once:
    """A setup callable to run once per worker process (per fan-out), before its first item."""

    token: str
    setup: Callable[[], None]


_DONE: set[str] = set()
_SETUP_LOCK = threading.Lock()  # thread runners share the process: one thread sets up, the others wait


def _run_setup(once: _Once | None) -> None:
    if once is None:
        return
    with _SETUP_LOCK:
        if once.token not in _DONE:
            once.setup()
            _DONE.add(once.token)


def _call(fn: Callable[[Any], Any], item: Any, once: _Once | None, label: str) -> Any:
    """The body of every mapped task: set the worker up if it is new, then do one item.

    `label` is unused here: it is a parameter so that Prefect can name the task run after it.
    """
    _run_setup(once)
    return fn(item)


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
) -> list[R]:
    """`[fn(item) for item in items]` as mapped Prefect tasks on `runner`, results in input order.

    `fn`, `items` and `setup` must pickle (module-level functions, functools.partial, dataclasses).
    `setup()` runs once in each worker before its first item (torch threads, a model to load).
    `labels` name the task runs in the Prefect UI. An item whose task raises (or whose worker
    process dies) becomes `on_error(item, exception)`; without `on_error` the error propagates.
    `progress(done, total, result)` is called in this process as each item finishes.
    """
    items = list(items)
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    labels = [str(i) for i in range(len(items))] if labels is None else [str(label) for label in labels]
    if len(labels) != len(items):
        raise ValueError(f"labels: {len(labels)} labels for {len(items)} items")
    if not items:
        return []
    once = None if setup is None else _Once(f"{name}-{uuid.uuid4().hex}", setup)
    if runner.kind != "dask" and (workers == 1 or len(items) == 1):
        return _inline(fn, items, labels, once, on_error, progress)
    with prefect_api():
        return _flow(fn, items, labels, once, on_error, progress, name, make_task_runner(runner, min(workers, len(items))))


def _inline(fn, items, labels, once, on_error, progress) -> list:
    results = []
    for item, label in zip(items, labels):
        try:
            result = _call(fn, item, once, label)
        except Exception as exc:
            if on_error is None:
                raise
            result = on_error(item, exc)
        results.append(result)
        if progress is not None:
            progress(len(results), len(items), result)
    return results


def _flow(fn, items, labels, once, on_error, progress, name: str, task_runner: Any) -> list:
    from prefect import flow, task, unmapped
    from prefect.cache_policies import NO_CACHE
    from prefect.futures import as_completed

    # No cache and no persisted results: each item writes its own outputs atomically, and DVC,
    # not Prefect, decides what is up to date.
    item_task = task(_call, name=name, task_run_name="{label}", cache_policy=NO_CACHE, persist_result=False)

    def body() -> list:
        futures = item_task.map(fn=unmapped(fn), item=items, once=unmapped(once), label=labels)
        position = {future.task_run_id: i for i, future in enumerate(futures)}
        results: dict[int, Any] = {}
        for future in as_completed(futures):
            i = position[future.task_run_id]
            try:
                results[i] = future.result()
            except Exception as exc:  # the item's own error, or its worker process died
                if on_error is None:
                    raise
                results[i] = on_error(items[i], exc)
            if progress is not None:
                progress(len(results), len(items), results[i])
        return [results[i] for i in range(len(items))]

    runner_flow = flow(body, name=f"{name}-fan-out", task_runner=task_runner, validate_parameters=False,
                       persist_result=False, log_prints=True)
    return runner_flow()


@contextlib.contextmanager
def prefect_api() -> Iterator[str]:
    """Make sure task runs have a Prefect API, and that worker processes started here see its address.

    Uses the configured API ($PREFECT_API_URL or the active Prefect profile's); without one,
    starts Prefect's temporary local server once per process. Either way the address is put in
    this process's environment, which process pools and LocalCluster workers inherit.
    """
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    url = get_current_settings().api.url
    if not url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()  # the same instance Prefect's own temporary mode would start
        timeout = max(SERVER_STARTUP_TIMEOUT_S, get_current_settings().server.ephemeral.startup_timeout_seconds)
        server.start(timeout=timeout)
        url = server.api_url
    url = str(url)
    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
