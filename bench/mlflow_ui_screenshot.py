"""Screenshots of the MLflow UI, taken by headless Chromium: a rollout GIF, the run with its dataset and
registered model, and the registered model's page.

    python bench/mlflow_ui_screenshot.py --out shot.png [--gif ROLLOUT.gif] [--policy DIR] [--port 5077]

Starts `mlflow server` on 127.0.0.1 with a fresh SQLite store and logs one run the way the stages
do: the GIF under the `rollouts` artifact folder (the evaluate stage's layout), a chunk table as an
MLflow dataset (padflow.registry.log_dataset, as train logs its chunk index) and a policy logged as
a pyfunc model, registered as `padflow-policy` and made `champion` (padflow.registry.publish, as
train and evaluate do). Then it saves three screenshots: `--out` (the GIF in the run's artifact
view), `<out>-run.png` (the run's overview: its dataset and logged model) and `<out>-model.png`
(the registered model with its version and alias). Without --gif, it records a short episode of
`pong_hold_15s` (no-op player, the controller overlay drawn) the way the evaluate stage records
its rollouts; without --policy, an untrained tiny policy stands in for the train stage's export.
Prints one JSON line: screenshot paths, URLs, run id, model version.

Chromium: `apt-get install -y chromium` (Debian); exit code 3 when it is missing (nothing else runs).
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

import numpy as np

from padflow.video import iter_frames

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


def tiny_policy(folder: Path) -> Path:
    """An untrained tiny policy saved as the train stage exports one (weights + config + model card)."""
    import torch

    from models.card import write_card
    from models.policy import FlowMatchingPolicy, PolicyConfig, save_policy

    torch.manual_seed(0)
    cfg = PolicyConfig(image_size=32, patch_size=8, vision_width=32, vision_layers=1, vision_heads=2, vision_mlp=64,
                       mixer_blocks=1, mixer_width=32, mixer_heads=2, dit_blocks=2, dit_width=64, dit_heads=4, time_features=16)
    save_policy(FlowMatchingPolicy(cfg).eval(), folder)
    write_card(folder, title="untrained tiny policy (screenshot bench)", summary="Random weights: shows the registry only.",
               data={"digest": "none"}, params={}, metrics={}, intended_use="None.", limitations="Untrained.", usage="-")
    return folder


def log_registry(policy: Path, gif: Path, example: np.ndarray) -> dict:
    """Into the active run: a chunk table as a dataset, the policy as a registered pyfunc model (champion)."""
    import pandas as pd

    from models.pyfunc import POLICY_MODEL, pyfunc_for
    from padflow import registry

    rows = pd.DataFrame({"video_id": ["v0", "v0", "v1"], "start_frame": [0, 16, 0], "game": ["pong"] * 3,
                         "licence": ["CC-BY-4.0"] * 3})
    source = gif.parent / "chunks.parquet"
    rows.to_parquet(source, index=False)
    registry.log_dataset("chunk_index", source, registry.weights_digest(policy)[:16], "training", rows)
    python_model, signature, example = pyfunc_for(POLICY_MODEL, policy, example)
    return registry.publish(POLICY_MODEL, policy, python_model, example, signature, {"val_loss": 1.0},
                            ("policy.overall", 0.0))


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


def shoot(chromium: str, work: Path, page: str, out: Path) -> None:
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium'}", f"--window-size={WINDOW}",
         f"--virtual-time-budget={PAGE_RENDER_BUDGET_MS}", f"--screenshot={out}", page],
        check=True, capture_output=True, timeout=180,
    )


def screenshot(gif: Path, policy: Path, out: Path, port: int, chromium: str, work: Path) -> dict:
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
            first_frame = np.asarray(next(iter(iter_frames(gif))))
            registered = log_registry(policy, gif, first_frame)
        run_page = f"{url}/#/experiments/{experiment_id}/runs/{run.info.run_id}"
        pages = {
            out: f"{run_page}/artifacts/rollouts/{gif.name}",
            out.with_name(f"{out.stem}-run.png"): run_page,
            out.with_name(f"{out.stem}-model.png"): f"{url}/#/models/{registered['name']}",
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        for path, page in pages.items():
            shoot(chromium, work, page, path)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return {"screenshots": {str(k): v for k, v in pages.items()}, "run_id": run.info.run_id, "gif": str(gif),
            "model": registered["name"], "version": registered["version"], "champion": registered["champion_moved"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="screenshot PNG to write")
    parser.add_argument("--gif", type=Path, help="rollout GIF to show (default: record one)")
    parser.add_argument("--policy", type=Path, help="policy folder to register (default: an untrained tiny one)")
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
        policy = args.policy if args.policy is not None else tiny_policy(work / "policy")
        print(json.dumps(screenshot(gif, policy, args.out.resolve(), args.port or free_port(), chromium, work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
