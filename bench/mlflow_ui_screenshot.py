"""Screenshot of a rollout GIF in the MLflow UI, taken by headless Chromium.

    python bench/mlflow_ui_screenshot.py --out shot.png [--gif ROLLOUT.gif] [--port 5077]

Starts `mlflow server` on 127.0.0.1 with a fresh SQLite store, logs one run holding the GIF under
the `rollouts` artifact folder (the evaluate stage's layout), opens that artifact in the run's
artifact view in headless Chromium and saves a screenshot. Without --gif, it records a short
episode of `pong_hold_15s` (no-op player, the controller overlay drawn) the way the evaluate
stage records its rollouts. Prints one JSON line: screenshot path, URL, run id.

Chromium: `apt-get install -y chromium` (Debian); exit code 3 when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SERVER_START_TIMEOUT_S = 180.0  # 2 shared cores under load: ~12 s idle, much longer busy
PAGE_RENDER_BUDGET_MS = 40000  # virtual time Chromium gives the page's scripts before the screenshot
WINDOW = "1400,900"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")
MISSING_CHROMIUM = 3


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record_gif(folder: Path) -> Path:
    """A real rollout GIF: a short no-op episode with its overlay, recorded like the evaluate stage's."""
    from dataclasses import replace

    from padflow.players import make_player
    from padflow.sim import make_env
    from tasks.evaluate import EvaluateConfig, recorded_episode

    env = make_env("pong_hold_15s")
    env.max_frames = int(env.fps * 4)  # four seconds are enough to see it move
    try:
        cfg = replace(EvaluateConfig(), gif_max_seconds=4.0)
        _, paths = recorded_episode(env, make_player("noop", env.task, env.fps), 0, folder / "pong_hold_15s_seed0", cfg)
    finally:
        env.close()
    return next(p for p in paths if p.suffix == ".gif")


def wait_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server at {url} not healthy after {SERVER_START_TIMEOUT_S:.0f} s")


def screenshot(gif: Path, out: Path, port: int, chromium: str, work: Path) -> dict:
    import mlflow

    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
         "--artifacts-destination", str(work / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_healthy(url, server)
        mlflow.set_tracking_uri(url)
        experiment_id = mlflow.create_experiment("padflow-ui-check")
        with mlflow.start_run(experiment_id=experiment_id, run_name="evaluate") as run:
            mlflow.log_artifact(str(gif), artifact_path="rollouts")
        page = f"{url}/#/experiments/{experiment_id}/runs/{run.info.run_id}/artifacts/rollouts/{gif.name}"
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium'}", f"--window-size={WINDOW}",
             f"--virtual-time-budget={PAGE_RENDER_BUDGET_MS}", f"--screenshot={out}", page],
            check=True, capture_output=True, timeout=180,
        )
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return {"screenshot": str(out), "url": page, "run_id": run.info.run_id, "gif": str(gif)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="screenshot PNG to write")
    parser.add_argument("--gif", type=Path, help="rollout GIF to show (default: record one)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = parser.parse_args()
    chromium = find_chromium()
    if chromium is None:
        print(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}); install it: apt-get install -y chromium",
              file=sys.stderr)
        return MISSING_CHROMIUM
    with tempfile.TemporaryDirectory(prefix="padflow-mlflow-ui-") as tmp:
        work = Path(tmp)
        gif = args.gif if args.gif is not None else record_gif(work)
        print(json.dumps(screenshot(gif, args.out.resolve(), args.port or free_port(), chromium, work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
