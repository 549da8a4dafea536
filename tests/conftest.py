"""Shared fixtures: a throwaway copy of the project (its own git repo, DVC, MLflow store)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from padflow.cli import set_env_defaults

# What the `padflow` command sets before anything heavy loads (telemetry off, OMP_WAIT_POLICY,
# Prefect's server start-up timeout): tests import the libraries directly, so set it here.
set_env_defaults()

from padflow.config import select_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What a pipeline run needs from the project; data and tracking stores are made fresh.
PROJECT_FILES = ("dvc.yaml", "params.yaml", "run.yaml", ".dvcignore", ".gitignore", "pyproject.toml")
PROJECT_DIRS = (".dvc", "profiles", "padflow", "tasks", "flows", "models")


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=padflow-test", "-c", "user.email=test@padflow.invalid", *args],
        cwd=cwd, check=True, capture_output=True,
    )


def copy_project(dest: Path, profile: str = "debug") -> Path:
    """A git-initialised copy of the project with `profile` active and no data, metrics or runs."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "tmp", "cache", "site_cache", "config.local")
    for name in PROJECT_DIRS:
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    select_run(dest, profile=profile)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "test project")
    return dest


def remux_faststart(source: Path, dest: Path) -> None:
    """`source`'s video packets remuxed into `dest` with the index first (+faststart): a file cut
    short then still opens, and ends early."""
    import av  # only the tests that damage videos need it

    with av.open(str(source)) as src, av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)


@pytest.fixture(scope="session")
def faststart():
    """`remux_faststart` for test modules (they cannot import this file by name)."""
    return remux_faststart


@pytest.fixture(scope="session")
def make_project():
    """`copy_project` for test modules (they cannot import this file by name)."""
    return copy_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh debug-profile project; MLflow and padflow resolve to it, not to the real one."""
    root = copy_project(tmp_path / "project")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PADFLOW_ROOT", str(root))
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the whole session (starting one takes ~10 s here)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
