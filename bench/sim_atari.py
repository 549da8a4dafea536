"""Steps per second of an Atari task through padflow's env vs the raw ale-py engine.

    python bench/sim_atari.py [--task pong_score_point] [--steps 3000] [--repeats 5]

Both sides step the same game with the same frame skip and the same fixed action (left stick
right + SOUTH, i.e. RIGHTFIRE at full strength) and hand back an RGB frame each step; padflow adds
action validation, the gamepad mapping, the RAM snapshot and the task's success predicate.
The task's time limit is lifted so that neither side resets mid-run. Rates are steps per second
of this process's CPU time (so other processes sharing the machine do not skew them); runs
alternate and the fastest of each side is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from padflow.actions import action_from_dict
from padflow.sim.engines.atari import FRAME_SKIP
from padflow.sim.registry import make_env
from padflow.sim.suite.atari import TASKS

BENCH_TIME_LIMIT_S = 1e9  # no truncation during a run
OVERHEAD_BUDGET_PCT = 10.0


def padflow_steps_per_s(task, steps: int) -> float:
    env = make_env(task)
    action = action_from_dict({"LEFT_X": 1.0, "SOUTH": 1})
    env.reset(seed=0)
    start = time.process_time()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset(seed=0)
    elapsed = time.process_time() - start
    env.close()
    return steps / elapsed


def raw_steps_per_s(game: str, steps: int) -> float:
    import ale_py
    from ale_py import roms

    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.loadROM(str(roms.get_rom_path(game)))
    ale.reset_game()
    action = ale_py.Action.RIGHTFIRE
    start = time.process_time()
    for _ in range(steps):
        for _ in range(FRAME_SKIP):
            ale.act(action, 1.0)
        ale.getScreenRGB()
        if ale.game_over():
            ale.reset_game()
    return steps / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="pong_score_point", help="an Atari task id")
    parser.add_argument("--steps", type=int, default=3000, help="env steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side")
    args = parser.parse_args()
    by_id = {t.id: t for t in TASKS}
    if args.task not in by_id:
        raise ValueError(f"--task {args.task!r} is not an Atari task; valid: {', '.join(by_id)}")
    task = dataclasses.replace(by_id[args.task], time_limit_s=BENCH_TIME_LIMIT_S)

    padflow_rates, raw_rates = [], []
    for _ in range(args.repeats):
        raw_rates.append(raw_steps_per_s(task.scenario, args.steps))
        padflow_rates.append(padflow_steps_per_s(task, args.steps))
    raw, wrapped = max(raw_rates), max(padflow_rates)
    overhead = 100.0 * (raw / wrapped - 1.0)
    print(f"task {task.id} (ale-py game {task.scenario}), frame skip {FRAME_SKIP}, {args.steps} steps x {args.repeats}")
    print(f"raw ale-py : {raw:8.0f} steps/s  (runs: {', '.join(f'{r:.0f}' for r in raw_rates)})")
    print(f"padflow env: {wrapped:8.0f} steps/s  (runs: {', '.join(f'{r:.0f}' for r in padflow_rates)})")
    verdict = "within" if overhead <= OVERHEAD_BUDGET_PCT else "OVER"
    print(f"overhead   : {overhead:5.1f}% of the raw step time ({verdict} the {OVERHEAD_BUDGET_PCT:.0f}% budget)")
    print(f"median runs: raw {np.median(raw_rates):.0f}, padflow {np.median(padflow_rates):.0f} steps/s")


if __name__ == "__main__":
    main()
