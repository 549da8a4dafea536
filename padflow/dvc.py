"""Running DVC stages from Python: the CLI in a subprocess, cwd = the project.

DVC's Python API resolves targets against the process's cwd (os.chdir is process-wide), so
orchestration calls `dvc repro --single-item STAGE` one stage at a time instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from padflow.config import chosen_input, read_run
from padflow.stages import stages_to_run

# What `padflow stage` exits with (padflow/cli.py): a bad input or config, the same on every try;
# or an I/O error / unreachable tracking server, which may pass on a retry.
STAGE_EXIT_USER_ERROR = 2
STAGE_EXIT_TRANSIENT = 75  # sysexits.h EX_TEMPFAIL: try again later
# DVC's own words when another DVC process holds the repository or a stage's outputs.
LOCK_CONTENTION = ("Unable to acquire lock", "is busy, it is being blocked by")
_EXIT = re.compile(r"failed to run: .*, exited with (-?\d+)")


@dataclass(frozen=True)
class ReproOutcome:
    stage: str
    ran: bool  # False when DVC found it up to date or restored it from its run cache
    log: str  # DVC's stdout+stderr


class DvcError(RuntimeError):
    """`dvc repro` failed; `transient` says whether running it again may succeed."""

    def __init__(self, message: str, *, stage: str, log: str, stage_exit: int | None) -> None:
        super().__init__(message)
        self.stage = stage
        self.log = log
        self.stage_exit = stage_exit  # the stage command's exit code; None when DVC failed before or around it

    @property
    def transient(self) -> bool:
        """Lock contention, or a stage that failed in a way that may pass on a retry (I/O, tracking
        server). Never a stage's own error (bad config or input, a bug): those fail every time."""
        if any(words in self.log for words in LOCK_CONTENTION):
            return True
        return self.stage_exit == STAGE_EXIT_TRANSIENT


def repro_stage(root: Path, stage: str, env: dict[str, str] | None = None,
                on_line: Callable[[str], None] | None = None) -> ReproOutcome:
    """`dvc repro --single-item STAGE` in `root`; DvcError (with DVC's own output) when it fails.

    `on_line(line)` gets each line of DVC's and the stage's output as it comes (the stage's start and
    end lines, its progress lines), so a long stage is not silent until it ends.
    """
    cmd = [sys.executable, "-m", "dvc", "repro", "--single-item", stage]
    lines: list[str] = []
    with subprocess.Popen(cmd, cwd=root, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
    log = "".join(lines)
    if proc.returncode != 0:
        exits = _EXIT.findall(log)
        raise DvcError(f"dvc repro {stage} failed in {root} (exit {proc.returncode}):\n{log.strip()}",
                       stage=stage, log=log, stage_exit=int(exits[-1]) if exits else None)
    return ReproOutcome(stage, ran=f"Running stage '{stage}'" in log, log=log)


_VAR = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}")


def _paths(entries: Sequence[object], variables: Mapping[str, str]) -> list[str]:
    """dvc.yaml deps or outs as paths: an entry is a path or {path: options}; `${name}` is filled from run.yaml."""
    out = []
    for entry in entries or ():
        path = str(next(iter(entry)) if isinstance(entry, Mapping) else entry)
        out.append(_VAR.sub(lambda m: str(variables.get(m.group(1), m.group(0))), path))
    return out


def _within(path: str, folder: str) -> bool:
    return PurePosixPath(path) == PurePosixPath(folder) or PurePosixPath(folder) in PurePosixPath(path).parents


def planned_run(root: Path, stages: Sequence[str] | None, input: str | Path | None, option: str = "--input") -> tuple[str | None, list[str]]:
    """What a pipeline run will read and reproduce: (the input folder it chose, padflow.config.chosen_input; the stages,
    padflow.stages.stages_to_run). ValueError, before any stage runs, naming a bad input (`option` names the argument)
    or every input a chosen stage reads that no stage before it writes (`unmade_inputs`)."""
    source = chosen_input(root, input, option)
    chosen = stages_to_run(root, stages, source)
    unmade = unmade_inputs(root, chosen, source)
    if unmade:
        raise ValueError("; ".join(unmade))
    return source, chosen


def unmade_inputs(root: Path, stages: Sequence[str], input: str | None = None) -> list[str]:
    """What the chosen stages would read that another stage writes, that none of them runs first, and that is not there.

    `padflow run --stages train` in a fresh clone would otherwise start DVC and fail in the middle of the
    run on a path (`No such file: data/pseudo_label`) instead of naming the stage that writes it. Read
    from dvc.yaml, its `${...}` filled from run.yaml's selection (`input` in place of its input, as
    `padflow run --input` will write it); one sentence per input.
    """
    variables = {key: str(value) for key, value in read_run(root).items() if not isinstance(value, Mapping)}
    if input is not None:
        variables["input"] = input
    spec = yaml.safe_load((root / "dvc.yaml").read_text()) or {}
    defined = spec.get("stages") or {}
    writer = {out: name for name, stage in defined.items()
              for out in _paths([*stage.get("outs", []), *stage.get("metrics", []), *stage.get("plots", [])], variables)}
    problems, earlier = [], set()
    for name in stages:
        for dep in _paths(defined.get(name, {}).get("deps", []), variables):
            made_by = next((stage for out, stage in writer.items() if _within(dep, out) and stage != name), None)
            if made_by and made_by not in earlier and not (root / dep).exists():
                problems.append(f"stage {name} reads {dep}, which stage {made_by} writes and no earlier run left: "
                                f"run {made_by} first or add it to --stages")
        earlier.add(name)
    return problems
