"""Running DVC stages from Python: the CLI in a subprocess, cwd = the project.

DVC's Python API resolves targets against the process's cwd (os.chdir is process-wide), so
orchestration calls `dvc repro --single-item STAGE` one stage at a time instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReproOutcome:
    stage: str
    ran: bool  # False when DVC found it up to date or restored it from its run cache
    log: str  # DVC's stdout+stderr


class DvcError(RuntimeError):
    pass


def repro_stage(root: Path, stage: str, env: dict[str, str] | None = None) -> ReproOutcome:
    """`dvc repro --single-item STAGE` in `root`; DvcError (with DVC's own output) when it fails."""
    cmd = [sys.executable, "-m", "dvc", "repro", "--single-item", stage]
    proc = subprocess.run(cmd, cwd=root, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise DvcError(f"dvc repro {stage} failed in {root} (exit {proc.returncode}):\n{log.strip()}")
    return ReproOutcome(stage, ran=f"Running stage '{stage}'" in log, log=log)
