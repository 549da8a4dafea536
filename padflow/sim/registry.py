"""The task suite: every task by id, and `make_env` to build its Gymnasium env."""

from __future__ import annotations

import functools
import importlib

from padflow.sim.core import GamepadEnv
from padflow.sim.task import ENGINES, Task

# Engine modules import their game library lazily, so listing tasks stays fast.
_SUITE_MODULES = {engine: f"padflow.sim.suite.{engine}" for engine in ENGINES}
_ENGINE_MODULES = {engine: f"padflow.sim.engines.{engine}" for engine in ENGINES}


@functools.cache
def all_tasks() -> dict[str, Task]:
    """id → Task for the whole suite, in suite order (atari, doom, crafter)."""
    tasks: dict[str, Task] = {}
    for engine, module_name in _SUITE_MODULES.items():
        for task in importlib.import_module(module_name).TASKS:
            if task.id in tasks:
                raise ValueError(f"duplicate task id {task.id!r} in {module_name}")
            if task.engine != engine:
                raise ValueError(f"task {task.id!r} in {module_name} says engine {task.engine!r}")
            tasks[task.id] = task
    return tasks


def get_task(task_id: str) -> Task:
    tasks = all_tasks()
    if task_id not in tasks:
        raise ValueError(f"unknown task id {task_id!r}; valid ids: {', '.join(tasks)}")
    return tasks[task_id]


def engine_fps(engine: str) -> float:
    """Frames per second of the stream an engine's env produces (engine rate / frame skip)."""
    return float(importlib.import_module(_ENGINE_MODULES[engine]).FPS)


def make_env(task: str | Task) -> GamepadEnv:
    """A fresh Gymnasium env for one task (call `reset(seed=...)` before stepping)."""
    if isinstance(task, str):
        task = get_task(task)
    module = importlib.import_module(_ENGINE_MODULES[task.engine])
    return GamepadEnv(task, module.Adapter(task))
