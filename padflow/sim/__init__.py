"""The simulator: real games (ale-py, vizdoom, crafter) behind one Gymnasium gamepad API."""

from padflow.sim.core import EngineAdapter, GamepadEnv
from padflow.sim.registry import all_tasks, engine_fps, get_task, make_env
from padflow.sim.task import CATEGORIES, DIMS, ENGINES, Task

__all__ = [
    "CATEGORIES", "DIMS", "ENGINES", "EngineAdapter", "GamepadEnv", "Task", "all_tasks",
    "engine_fps", "get_task", "make_env",
]  # fmt: skip
