"""Frames per second of a Crafter task through padflow's env vs the raw crafter env.

    python bench/sim_crafter.py [--task crafter_collect_wood] [--frames 3000] [--repeats 9]

"Raw with the same frame skip": padflow shows 30 frames a second and steps Crafter's world once
every TICK_FRAMES frames, reusing the last render in between. The raw side is a plain
`crafter.Env` (same seed, same frame size, no episode limit) driven by a loop over the same
number of frames that calls `env.step` on every TICK_FRAMES-th frame with the very Crafter
actions padflow applied at its ticks (recorded in an untimed pass) and does nothing on the other
frames — the cheapest way to produce that stream without padflow. The padflow side replays a
seeded random gamepad sequence through GamepadEnv, so it adds action validation, the press
latch and stick mapping, the state snapshot and the task predicate. Episode resets (world
generation, ~1 s, identical on both sides) are outside the timed region; the time limit is lifted.
Rates are frames per second of this process's CPU time, so other processes sharing the machine
skew them less; runs alternate raw, padflow, raw, ... and the overhead is the median over the
adjacent pairs, so a burst of load on the machine lands on both sides of a pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from padflow.players import RandomPlayer
from padflow.sim.core import GamepadEnv
from padflow.sim.engines.crafter import FRAME_SIZE, TICK_FRAMES, Adapter
from padflow.sim.suite.crafter import TASKS

BENCH_TIME_LIMIT_S = 1e9  # no truncation during a run
OVERHEAD_BUDGET_PCT = 10.0
SEED = 0


def gamepad_sequence(frames: int) -> list[np.ndarray]:
    """A seeded random pad: every button a coin flip, sticks uniform (the busiest input there is)."""
    player = RandomPlayer()
    player.reset(SEED)
    return [player.act(np.empty(0), {}) for _ in range(frames)]


def padflow_run(env: GamepadEnv, pad: list[np.ndarray]) -> tuple[float, list[str]]:
    """(frames per CPU second, Crafter actions applied at the ticks)."""
    env.reset(seed=SEED)
    natives: list[str] = []
    elapsed, start = 0.0, time.process_time()
    for action in pad:
        _, _, terminated, truncated, info = env.step(action)
        if info["native_action"] is not None:
            natives.append(info["native_action"])
        if terminated or truncated:
            elapsed += time.process_time() - start
            env.reset(seed=SEED)
            start = time.process_time()
    elapsed += time.process_time() - start
    return len(pad) / elapsed, natives


def raw_run(natives: list[str], frames: int) -> float:
    import crafter

    env = crafter.Env(size=(FRAME_SIZE, FRAME_SIZE), length=None, seed=SEED)
    index = {name: i for i, name in enumerate(env.action_names)}
    actions = [index[name] for name in natives]
    env.reset()
    tick = 0
    elapsed, start = 0.0, time.process_time()
    for frame in range(1, frames + 1):
        if frame % TICK_FRAMES:
            continue  # between ticks the stream repeats the last observation
        _, _, done, _ = env.step(actions[tick])
        tick += 1
        if done:
            elapsed += time.process_time() - start
            env.reset()
            start = time.process_time()
    elapsed += time.process_time() - start
    return frames / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="crafter_collect_wood", help="a Crafter task id")
    parser.add_argument("--frames", type=int, default=3000, help="env steps (frames) per timed run")
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per side")
    args = parser.parse_args()
    by_id = {t.id: t for t in TASKS}
    if args.task not in by_id:
        raise ValueError(f"--task {args.task!r} is not a Crafter task; valid: {', '.join(by_id)}")
    if args.frames < TICK_FRAMES or args.repeats < 1:
        raise ValueError(f"--frames must be >= {TICK_FRAMES} and --repeats >= 1")
    task = dataclasses.replace(by_id[args.task], time_limit_s=BENCH_TIME_LIMIT_S)
    env = GamepadEnv(task, Adapter(task))
    pad = gamepad_sequence(args.frames)
    _, natives = padflow_run(env, pad)  # untimed pass: the actions the raw side replays

    padflow_rates, raw_rates = [], []
    for _ in range(args.repeats):
        raw_rates.append(raw_run(natives, args.frames))
        padflow_rates.append(padflow_run(env, pad)[0])
    env.close()
    raw, wrapped = float(np.median(raw_rates)), float(np.median(padflow_rates))
    overhead = 100.0 * (float(np.median(np.array(raw_rates) / np.array(padflow_rates))) - 1.0)
    print(f"task {task.id}, {FRAME_SIZE}x{FRAME_SIZE} frames, one world step per {TICK_FRAMES} frames, "
          f"{args.frames} frames x {args.repeats}")
    print(f"raw crafter: {raw:8.0f} frames/s = {raw / TICK_FRAMES:6.0f} world steps/s  "
          f"(median of runs: {', '.join(f'{r:.0f}' for r in raw_rates)})")
    print(f"padflow env: {wrapped:8.0f} frames/s = {wrapped / TICK_FRAMES:6.0f} world steps/s  "
          f"(median of runs: {', '.join(f'{r:.0f}' for r in padflow_rates)})")
    verdict = "within" if overhead <= OVERHEAD_BUDGET_PCT else "OVER"
    print(f"overhead   : {overhead:5.1f}% of the raw time, median over pairs "
          f"({verdict} the {OVERHEAD_BUDGET_PCT:.0f}% budget)")


if __name__ == "__main__":
    main()
