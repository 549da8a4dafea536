"""Shared fixtures: a throwaway copy of the project (its own git repo, DVC, MLflow store)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from padflow.cli import set_env_defaults

# What the `padflow` command sets before anything heavy loads (telemetry off, OMP_WAIT_POLICY,
# Prefect's server start-up timeout): tests import the libraries directly, so set it here.
set_env_defaults()

from padflow.config import select_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# What a pipeline run needs from the project; data and tracking stores are made fresh.
PROJECT_FILES = ("dvc.yaml", "params.yaml", "run.yaml", ".dvcignore", ".gitignore", "pyproject.toml")
PROJECT_DIRS = (".dvc", "profiles", "padflow", "tasks", "flows", "models", "skins", "assets")


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


def kill_when_file_appears(script: str, cwd: Path, watched: Path, *args: str, timeout_s: float = 300) -> None:
    """Run `python -c script` in `cwd` (PADFLOW_ROOT=cwd) and SIGKILL it as soon as `watched` exists, as a run killed
    for memory or by a user would be; fails with the child's stderr if it ended before writing the file."""
    child = subprocess.Popen([sys.executable, "-c", script, *args], cwd=cwd, env={**os.environ, "PADFLOW_ROOT": str(cwd)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout_s
        while not watched.is_file() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watched.is_file(), child.stderr.read().decode()[-2000:] if child.poll() is not None else f"no {watched.name}"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()


@pytest.fixture(scope="session")
def kill_when():
    """`kill_when(script, cwd, watched, *args)`: see `kill_when_file_appears`."""
    return kill_when_file_appears


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


def sprite_skin(folder: Path, skin_id: str = "sprite-pad", *, held_out: bool = False, sticks: bool = True, atlas_of: str | None = None) -> Path:
    """A small sprite skin drawn here (padflow.overlay.sprite format): a grey body, four face
    buttons, an analog trigger, a button-mode shoulder, a d-pad with nine state sprites and (with
    `sticks`) two sticks, one with a clicked cap. START, BACK, GUIDE and the other shoulder and
    trigger are not drawn (unobserved). Its atlas is drawn from `skin_id` (or from `atlas_of`: two
    skins of one atlas, with and without sticks, are twins). Returns the layout path."""
    from padflow.overlay.sprite import write_sprite_skin

    rng = np.random.default_rng(sum(map(ord, atlas_of or skin_id)))
    atlas = np.zeros((64, 160, 4), dtype=np.uint8)
    atlas[:, :, 3] = 255
    atlas[:, :120, :3] = (70, 74, 82)  # body, 120 x 64 at (0, 0), with blotches for localization's keypoints
    for _ in range(40):
        x, y, w, h = (int(v) for v in rng.integers((0, 0, 3, 3), (112, 56, 14, 10)))
        atlas[y : y + h, x : min(x + w, 120), :3] = rng.integers(40, 140, 3)
    cells = [(120 + 10 * (k % 4), 10 * (k // 4)) for k in range(24)]  # 10x10 sprites right of the body
    for k, (u, v) in enumerate(cells):
        atlas[v : v + 10, u : u + 10, :3] = rng.integers(30, 250, 3)
        atlas[v + 2 : v + 8, u + 2 : u + 8, :3] = 255 - atlas[v + 5, u + 5, :3]
        atlas[v + 4 + k % 3, u + 1 : u + 9, :3] = 20
    rect = lambda k: [cells[k][0], cells[k][1], 10, 10]  # noqa: E731
    layers: list[dict] = [{"type": "static", "sprite": [0, 0, 120, 64], "pos": [0, 0]}]
    for k, (name, pos) in enumerate((("SOUTH", [92, 36]), ("EAST", [104, 24]), ("WEST", [80, 24]), ("NORTH", [92, 12]))):
        layers.append({"type": "button", "control": name, "pos": pos, "idle": rect(k), "pressed": rect(k + 4)})
    layers.append({"type": "trigger", "control": "RIGHT_TRIGGER", "pos": [100, 0], "idle": rect(8), "pressed": rect(9),
                   "mode": "analog", "direction": "up"})
    layers.append({"type": "button", "control": "LEFT_SHOULDER", "pos": [8, 0], "idle": None, "pressed": rect(10)})
    states = ("idle", "up", "down", "left", "right", "up_left", "up_right", "down_left", "down_right")
    layers.append({"type": "dpad", "pos": [20, 40], "sprites": {s: rect(11 + i) for i, s in enumerate(states)}})
    if sticks:
        layers.append({"type": "stick", "side": "left", "pos": [20, 16], "cap": rect(20), "cap_pressed": rect(21),
                       "travel": 6.0, "travel_shape": "round"})
        layers.append({"type": "stick", "side": "right", "pos": [60, 40], "cap": rect(22), "travel": 5.0, "travel_shape": "square"})
    write_sprite_skin(folder, skin_id, "generic", (120, 64), atlas, layers, held_out=held_out)
    return folder / f"{skin_id}.json"


def faint_press_skin(folder: Path, skin_id: str, control: str = "SOUTH") -> Path:
    """`sprite_skin` whose `control` press draws its idle sprite a few grey levels brighter (as a dark press over a black
    game shows): no video can show it. Returns the layout path."""
    from PIL import Image

    layout = json.loads(sprite_skin(folder, skin_id).read_text())
    button = next(layer for layer in layout["layers"] if layer.get("control") == control)
    atlas = np.asarray(Image.open(folder / layout["atlas"])).copy()
    (u, v, w, h), (pu, pv, _, _) = button["idle"], button["pressed"]
    atlas[pv : pv + h, pu : pu + w] = atlas[v : v + h, u : u + w]
    atlas[pv + 2 : pv + 8, pu + 2 : pu + 8, :3] = np.clip(atlas[pv + 2 : pv + 8, pu + 2 : pu + 8, :3].astype(int) + 4, 0, 255)
    Image.fromarray(atlas).save(folder / layout["atlas"])
    return folder / f"{skin_id}.json"


def smooth_stick_sprites(n: int = 96) -> list[np.ndarray]:
    """An arcade stick as input-overlay's arcade-stick preset draws one: a soft dark well and a shaded
    ball, nine (n, n, 4) RGBA sprites (idle, up, down, left, right, up-left, up-right, down-left,
    down-right). Smooth shading gives corner detectors keypoints at only a couple of places."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    sprites = []
    for dx, dy in ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (1, -1), (-1, 1), (1, 1)):
        well = np.exp(-((np.hypot(xx - n / 2, yy - n / 2) / (0.3 * n)) ** 2))
        ball = np.exp(-((np.hypot(xx - n / 2 - 0.2 * n * dx, yy - n / 2 - 0.2 * n * dy) / (0.15 * n)) ** 2))
        rgb = np.stack([40 + 180 * ball, 40 + 20 * ball, 40 + 20 * ball], -1)
        sprites.append(np.dstack([rgb, 255 * np.maximum(well, ball)]).astype(np.uint8))
    return sprites


def smooth_stick_skin(folder: Path, skin_id: str = "ball-stick") -> Path:
    """A sprite skin of `smooth_stick_sprites` as one d-pad layer; returns the layout path."""
    from padflow.overlay.sprite import write_sprite_skin

    sprites = smooth_stick_sprites()
    n = sprites[0].shape[0]
    states = ("idle", "up", "down", "left", "right", "up_left", "up_right", "down_left", "down_right")
    layers = [{"type": "dpad", "pos": [0, 0], "sprites": {s: [k * n, 0, n, n] for k, s in enumerate(states)}}]
    write_sprite_skin(folder, skin_id, "generic", (n, n), np.concatenate(sprites, axis=1), layers)
    return folder / f"{skin_id}.json"


@pytest.fixture(scope="session")
def smooth_sprites() -> list[np.ndarray]:
    """The nine sprites of `smooth_stick_sprites`."""
    return smooth_stick_sprites()


@pytest.fixture(scope="session")
def make_smooth_skin():
    """`make_smooth_skin(folder, skin_id="ball-stick")` → layout path of a skin no fit can find (see `smooth_stick_skin`)."""
    return smooth_stick_skin


@pytest.fixture(scope="session")
def make_sprite_skin():
    """`make_sprite_skin(folder, skin_id="sprite-pad", held_out=False, sticks=True, atlas_of=None)` → layout path (see `sprite_skin`)."""
    return sprite_skin


@pytest.fixture(scope="session")
def make_faint_press_skin():
    """`make_faint_press_skin(folder, skin_id, control="SOUTH")` → layout path (see `faint_press_skin`)."""
    return faint_press_skin
