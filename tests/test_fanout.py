"""Fan-out on the task runner params.yaml picks: real pools and clusters, results in input order."""

from __future__ import annotations

import functools
import os
import signal
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import cloudpickle
import pytest

from padflow.config import load_params
from padflow.fanout import FAN_OUT_STAGES, TaskRunnerConfig, fan_out, runner_config

# Worker processes cannot import tests/ (pytest imports it by path): ship this module's functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def test_params_yaml_picks_local_processes_by_default_and_threads_for_extract():
    params = load_params()
    assert runner_config(params) == TaskRunnerConfig(kind="process", address=None, threads_per_worker=1)
    assert runner_config(params, "evaluate") == runner_config(params, "ingest") == runner_config(params)
    assert runner_config(params, "extract") == TaskRunnerConfig(kind="thread")
    assert runner_config({}) == TaskRunnerConfig()


def test_a_stage_runner_is_laid_over_the_shared_one():
    orchestration = {"task_runner": {"kind": "dask", "threads_per_worker": 2}, "stage_runners": {"ingest": {"kind": "process"}}}
    params = {"orchestration": orchestration}
    assert runner_config(params, "ingest") == TaskRunnerConfig(kind="process", threads_per_worker=2)
    assert runner_config(params, "extract") == TaskRunnerConfig(kind="dask", threads_per_worker=2)
    with pytest.raises(ValueError, match=r"orchestration.stage_runners: gate fan\(s\) nothing out"):
        runner_config({"orchestration": {"stage_runners": {"gate": {"kind": "thread"}}}}, "gate")
    assert set(FAN_OUT_STAGES) == {"corpus", "ingest", "parser_train", "extract", "evaluate", "suite"}
    assert runner_config({"orchestration": {"stage_runners": {"corpus": {"kind": "thread"}}}}, "corpus") == TaskRunnerConfig("thread")
    with pytest.raises(ValueError, match=r"orchestration.stage_runners.extract.kind"):
        runner_config({"orchestration": {"stage_runners": {"extract": {"kind": "ray"}}}}, "extract")


@pytest.mark.parametrize("section, field", [
    ({"kind": "ray"}, "orchestration.task_runner.kind"),
    ({"kind": "process", "address": "tcp://10.0.0.5:8786"}, "address"),
    ({"kind": "dask", "address": "10.0.0.5"}, "address"),
    ({"threads_per_worker": 0}, "threads_per_worker"),
    ({"workers": 2}, "workers"),
])
def test_bad_runner_settings_name_the_field(section, field):
    with pytest.raises(ValueError, match=field):
        runner_config({"orchestration": {"task_runner": section}})


def _pid_and_square(marker: Path, x: int) -> tuple[int, int]:
    if x < 0:
        raise ValueError(f"item {x} is negative")
    if x == 99:
        os.kill(os.getpid(), signal.SIGKILL)  # a worker dying mid-item, as one killed for memory does
    return x * x, os.getpid()


def _count_setup(marker: Path) -> None:
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["thread", "process"])
def test_results_come_back_in_input_order_with_setup_once_per_worker(kind, tmp_path: Path):
    marker = tmp_path / "setups"
    items = [5, 3, -1, 8, 2, 7]
    seen = []
    results = fan_out(
        functools.partial(_pid_and_square, marker), items, name="square", runner=TaskRunnerConfig(kind), workers=2,
        setup=functools.partial(_count_setup, marker), on_error=lambda item, exc: (str(exc), 0),
        progress=lambda done, total, result: seen.append((done, total)),
    )
    assert [r[0] for r in results] == [25, 9, "item -1 is negative", 64, 4, 49]
    assert seen == [(i, len(items)) for i in range(1, len(items) + 1)]
    setups = marker.read_text().split()
    pids = {pid for _, pid in results if pid}
    assert len(setups) == len(set(setups)) and pids <= set(map(int, setups)), "each worker set itself up exactly once"
    if kind == "process":
        assert os.getpid() not in pids and len(pids) <= 2


@pytest.mark.slow
def test_a_worker_process_that_dies_becomes_that_items_error(tmp_path: Path):
    marker = tmp_path / "setups"
    results = fan_out(functools.partial(_pid_and_square, marker), [2, 99], name="die", runner=TaskRunnerConfig("process"),
                      workers=2, on_error=lambda item, exc: f"{item} failed: {type(exc).__name__}")
    assert results[1] == "99 failed: BrokenProcessPool"


def test_one_local_worker_runs_in_this_process_without_an_engine(tmp_path: Path):
    marker = tmp_path / "setups"
    results = fan_out(functools.partial(_pid_and_square, marker), [1, 2], name="inline", runner=TaskRunnerConfig("process"),
                      workers=1, setup=functools.partial(_count_setup, marker))
    assert results == [(1, os.getpid()), (4, os.getpid())]
    assert marker.read_text().split() == [str(os.getpid())]
    with pytest.raises(ValueError, match="item -3 is negative"):
        fan_out(functools.partial(_pid_and_square, marker), [-3], name="inline", runner=TaskRunnerConfig(), workers=1)
    with pytest.raises(ValueError, match="workers"):
        fan_out(abs, [1], name="bad", runner=TaskRunnerConfig(), workers=0)


@pytest.mark.slow
def test_dask_runs_on_a_local_cluster_and_on_an_existing_one_with_the_same_results(tmp_path: Path):
    from distributed import LocalCluster

    marker = tmp_path / "setups"
    items = [4, -2, 6]
    fn, setup = functools.partial(_pid_and_square, marker), functools.partial(_count_setup, marker)
    local = fan_out(fn, items, name="square", runner=TaskRunnerConfig("dask"), workers=2, setup=setup,
                    on_error=lambda item, exc: (str(exc), 0))
    assert [r[0] for r in local] == [16, "item -2 is negative", 36]
    assert os.getpid() not in {pid for _, pid in local}
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        remote = fan_out(fn, items, name="square", runner=TaskRunnerConfig("dask", address=cluster.scheduler_address),
                         workers=5, setup=setup, on_error=lambda item, exc: (str(exc), 0))
    assert [r[0] for r in remote] == [r[0] for r in local]
    setups = marker.read_text().split()
    assert len(setups) == len(set(setups)), "each worker set itself up once per fan-out"
    with pytest.raises(ValueError, match="item -2 is negative"):
        fan_out(fn, items, name="square", runner=TaskRunnerConfig("dask"), workers=1)


@pytest.mark.slow
def test_a_tls_scheduler_takes_the_client_certificate_from_dask_config_and_names_it_when_missing():
    import dask
    from distributed import LocalCluster
    from distributed.security import Security

    security = Security.temporary()  # a throwaway CA and certificates, as the docs/operations.md recipe makes with openssl
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://", security=security,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        runner = TaskRunnerConfig("dask", address=cluster.scheduler_address)
        assert runner.address.startswith("tls://127.0.0.1:")
        client_config = {"distributed.comm.tls.ca-file": security.tls_ca_file,
                         "distributed.comm.tls.client.cert": security.tls_client_cert,
                         "distributed.comm.tls.client.key": security.tls_client_key}
        with dask.config.set(client_config):
            assert fan_out(abs, [-1, -2], name="tls", runner=runner, workers=1) == [1, 2]
        unset = dict.fromkeys(client_config)
        with dask.config.set(unset), pytest.raises(ValueError, match=r"tls://.*needs Dask's distributed.comm.tls.ca-file "
                                                                      r"and distributed.comm.tls.client.cert"):
            fan_out(abs, [-1], name="tls", runner=runner, workers=1)


def _setup_raises() -> None:
    raise RuntimeError("no model here")


def _setup_exits() -> None:
    os._exit(3)  # what a worker killed for memory while loading its model looks like to the pool


def _square_or_exit(x: int) -> int:
    if x == 0:
        os._exit(3)
    return x * x


@pytest.mark.parametrize("kind, workers", [("process", 2), ("thread", 2), ("process", 1)])
def test_a_setup_that_raises_fails_the_stage_as_could_not_start_not_every_item(kind, workers):
    errors = []
    with pytest.raises(RuntimeError, match=r"^setup-raises: a worker could not start: its setup failed "
                                           r"\(RuntimeError: no model here\)") as raised:
        fan_out(abs, [1, 2, 3, 4], name="setup-raises", runner=TaskRunnerConfig(kind), workers=workers,
                setup=_setup_raises, on_error=lambda item, exc: errors.append(item))
    assert isinstance(raised.value.__cause__, RuntimeError) and str(raised.value.__cause__) == "no model here"
    assert errors == []


def test_a_worker_process_that_exits_during_setup_fails_the_stage_promptly():
    errors = []
    with pytest.raises(RuntimeError, match="setup-exits: a worker could not start: its process died before taking an item"):
        fan_out(abs, [1, 2, 3, 4], name="setup-exits", runner=TaskRunnerConfig("process"), workers=2,
                setup=_setup_exits, on_error=lambda item, exc: errors.append(item))
    assert errors == []


def test_a_worker_process_that_exits_mid_item_fails_that_item_and_the_others_complete():
    results = fan_out(_square_or_exit, [0, 1, 2, 3], name="exits", runner=TaskRunnerConfig("process"), workers=2,
                      labels=["a", "b", "c", "d"], on_error=lambda item, exc: str(exc))
    assert results == ["exits: item a: its worker process died (it exited, or was killed, e.g. for memory)", 1, 4, 9]


def test_without_on_error_a_worker_process_that_exits_mid_item_raises_naming_the_item():
    with pytest.raises(BrokenProcessPool, match="exits: item b: its worker process died"):
        fan_out(_square_or_exit, [1, 0, 2], name="exits", runner=TaskRunnerConfig("process"), workers=2, labels=["a", "b", "c"])
