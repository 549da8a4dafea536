"""`padflow serve` as a real Prefect deployment: scheduled, triggered, run to completion."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CRON = "0 3 * * *"
SERVE_START_TIMEOUT_S = 120


def test_served_deployment_has_the_schedule_and_completes_a_triggered_run(project: Path, prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PADFLOW_ROOT": str(project)}
    serve = subprocess.Popen(
        [sys.executable, "-m", "padflow.cli", "serve", "--cron", CRON, "--profile", "debug"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deployment = None
        deadline = time.monotonic() + SERVE_START_TIMEOUT_S
        with get_client(sync_client=True) as client:
            while deployment is None and time.monotonic() < deadline:
                assert serve.poll() is None, serve.stdout.read()
                try:
                    deployment = client.read_deployment_by_name("pipeline/nightly")
                except Exception:  # not registered yet
                    time.sleep(1)
        assert deployment is not None, "padflow serve did not register its deployment"
        assert [s.schedule.cron for s in deployment.schedules] == [CRON]
        assert deployment.parameters["profile"] == "debug"

        flow_run = run_deployment("pipeline/nightly", parameters={"stages": ["corpus"]}, timeout=600, poll_interval=2)
        assert flow_run.state.is_completed(), flow_run.state
        assert (project / "metrics/corpus.json").is_file()
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
