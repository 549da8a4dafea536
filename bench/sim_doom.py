"""Doom env throughput through padflow's GamepadEnv vs raw vizdoom, and padflow's overhead.

Both loops run the same task configuration (scenario, resolution, buttons, info buffers, one
tic per step), replay the same random gamepad actions and start a new episode at the same
time limit; the raw loop sends precomputed native button lists and reads the same buffers.

    python bench/sim_doom.py [--task doom_defend_center_kill5] [--steps 3000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from padflow.players.base import RandomPlayer
from padflow.sim.core import GamepadEnv
from padflow.sim.engines import doom
from padflow.sim.suite.doom import TASKS

MAX_OVERHEAD_PCT = 10.0  # padflow's wrapper may cost at most this much over raw vizdoom


def random_actions(steps: int, seed: int) -> np.ndarray:
    player = RandomPlayer()
    player.reset(seed)
    return np.stack([player.act(np.zeros(0), {}) for _ in range(steps)])


def raw_steps_per_s(task, natives: list[list[float]], max_frames: int, seed: int) -> tuple[float, float]:
    """(steps/s of wall time, this process's CPU seconds per step) for raw vizdoom."""
    game = doom.new_game(task, seed)
    objects = bool(task.option("doom_objects", False))
    try:
        game.new_episode()
        since_reset = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        for native in natives:
            game.make_action(native, doom.FRAME_SKIP)
            since_reset += 1
            state = game.get_state()
            if state is not None:
                _ = state.screen_buffer, state.game_variables, state.objects if objects else None
            if game.is_episode_finished() or since_reset >= max_frames:
                game.new_episode()
                since_reset = 0
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        return len(natives) / wall, cpu / len(natives)
    finally:
        game.close()


def padflow_steps_per_s(task, actions: np.ndarray, seed: int) -> tuple[float, float, list[list[float]], int]:
    """Steps/s and CPU seconds per step through GamepadEnv, the native actions it sent, its frame limit."""
    env = GamepadEnv(task, doom.Adapter(task))
    natives: list[list[float]] = []
    try:
        env.reset(seed=seed)
        start, cpu_start = time.perf_counter(), time.process_time()
        for action in actions:
            _, _, terminated, truncated, info = env.step(action)
            natives.append(info["native_action"])
            if terminated or truncated:
                env.reset(seed=seed)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        return len(actions) / wall, cpu / len(actions), natives, env.max_frames
    finally:
        env.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="doom_defend_center_kill5", help="Doom task id")
    parser.add_argument("--steps", type=int, default=3000, help="env steps per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per loop; the best counts")
    args = parser.parse_args()
    tasks = {t.id: t for t in TASKS}
    if args.task not in tasks:
        raise ValueError(f"--task {args.task!r} is not a Doom task; valid: {', '.join(tasks)}")
    if args.steps < 1 or args.repeats < 1:
        raise ValueError("--steps and --repeats must be >= 1")
    task = tasks[args.task]
    actions = random_actions(args.steps, seed=0)

    padflow_runs, raw_runs, padflow_cpu, raw_cpu = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so machine load hits both loops alike
        sps, cpu, natives, max_frames = padflow_steps_per_s(task, actions, seed=0)
        padflow_runs.append(sps)
        padflow_cpu.append(cpu)
        sps, cpu = raw_steps_per_s(task, natives, max_frames, seed=0)
        raw_runs.append(sps)
        raw_cpu.append(cpu)
    padflow_sps, raw_sps = max(padflow_runs), max(raw_runs)
    overhead = (raw_sps / padflow_sps - 1.0) * 100.0
    # The Doom engine runs in its own process, so this process's CPU time is what the Python
    # side costs: a load-robust measure of the wrapper's extra work per step.
    extra_cpu_us = (min(padflow_cpu) - min(raw_cpu)) * 1e6
    print(f"task {task.id} ({task.scenario}), {doom.SCREEN_WIDTH}x{doom.SCREEN_HEIGHT} RGB, "
          f"frame skip {doom.FRAME_SKIP}, {args.steps} steps x {args.repeats} repeats (best)")
    print(f"raw vizdoom:        {raw_sps:6.0f} steps/s ({1e6 / raw_sps:.0f} us/step)")
    print(f"padflow GamepadEnv: {padflow_sps:6.0f} steps/s ({1e6 / padflow_sps:.0f} us/step)")
    print(f"overhead:           {overhead:6.1f} % of wall time (limit {MAX_OVERHEAD_PCT:.0f} %)")
    print(f"wrapper CPU:        {extra_cpu_us:6.1f} us/step in this process "
          f"= {extra_cpu_us * raw_sps / 1e4:.1f} % of a raw step")
    return 0 if overhead <= MAX_OVERHEAD_PCT else 1


if __name__ == "__main__":
    raise SystemExit(main())
