"""Evaluation throughput: episodes/s with 1 vs 2 worker processes, and the rollout loop's overhead.

    python bench/evaluate.py [--model small] [--tasks doom_basic_first_shot pong_hold_15s] [--episodes 4] [--repeats 2]

Throughput: tasks/evaluate.py's `evaluate` on the given tasks (policy only, no videos, 16 Euler
steps), wall-clock episodes per second, with 1 and with 2 worker processes.

Overhead: one task played by the policy through the rollout loop (PolicyPlayer over the stage's
PolicySampler + run_episode, frame preprocessing, chunk bookkeeping), against the same number of
env steps and the same number of `model.sample` calls made directly (the raw cost of the engine
and the network). Both are measured in this process's CPU time (torch on one thread), so other processes on the
machine do not skew the ratio; the fastest repeat of each side is kept.

The policy has the named params.yaml model's sizes and random weights (speed does not depend
on training). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from models.policy import FlowMatchingPolicy, policy_profile, prepare_frames, save_policy
from padflow.config import load_params
from padflow.players.rollout import player_seed, run_episode
from padflow.sim import make_env
from tasks.evaluate import SIM_GAME_BOX, SIM_MASK_POLICY, SIM_OVERLAY_BOX, EvaluateConfig, evaluate, policy_player


def throughput(cfg: EvaluateConfig, root: Path, workers: int) -> float:
    run_cfg = replace(cfg, workers=workers)
    started = time.perf_counter()
    result = evaluate(run_cfg, root, seed=0)
    return result["metrics"]["episodes"] / (time.perf_counter() - started)


def loop_cpu_s(model: FlowMatchingPolicy, task: str, seeds: list[int], euler_steps: int) -> tuple[float, int, int]:
    """CPU seconds of the rollout loop over `seeds`; also the steps taken and the chunks sampled."""
    env = make_env(task)
    player = policy_player(model, euler_steps, model.cfg.action_horizon)
    started = time.process_time()
    steps = sum(run_episode(env, player, s).frames for s in seeds)
    elapsed = time.process_time() - started
    env.close()
    return elapsed, steps, player.calls


def raw_cpu_s(model: FlowMatchingPolicy, task: str, steps: int, calls: int, euler_steps: int) -> float:
    """CPU seconds of `steps` env steps (noop actions, reset at episode end) plus `calls` direct model.sample calls."""
    env = make_env(task)
    frame, _ = env.reset(seed=0)
    inputs = prepare_frames(frame, SIM_GAME_BOX, SIM_OVERLAY_BOX, SIM_MASK_POLICY, model.cfg.image_size)
    action = np.zeros(21, np.float32)
    generator = torch.Generator().manual_seed(player_seed(0))
    started = time.process_time()
    for _ in range(calls):
        model.sample(inputs, steps=euler_steps, generator=generator)
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset(seed=0)
    elapsed = time.process_time() - started
    env.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="small", help="params.yaml train.models entry")
    parser.add_argument("--tasks", nargs="+", default=["doom_basic_first_shot", "pong_hold_15s"])
    parser.add_argument("--episodes", type=int, default=4, help="per task")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--euler-steps", type=int, default=16)
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = FlowMatchingPolicy(policy_profile(load_params()["train"]["models"], args.model)).eval()
    with tempfile.TemporaryDirectory(prefix="padflow-bench-eval-") as tmp:
        root = Path(tmp)
        save_policy(model, root / "policy")
        cfg = EvaluateConfig(checkpoint=str(root / "policy"), tasks=tuple(args.tasks), episodes=args.episodes,
                             euler_steps=args.euler_steps, euler_steps_compare=(), baselines=(), videos_per_task=0,
                             out_dir=str(root / "out"))
        rates = {w: [] for w in (1, 2)}
        for _ in range(args.repeats):
            for workers in (1, 2):
                rates[workers].append(throughput(cfg, root, workers))
    seeds = list(range(args.episodes))
    loop, raw = [], []
    for _ in range(args.repeats):
        seconds, steps, calls = loop_cpu_s(model, args.tasks[0], seeds, args.euler_steps)
        loop.append(seconds)
        raw.append(raw_cpu_s(model, args.tasks[0], steps, calls, args.euler_steps))
    print(json.dumps({
        "model": args.model, "tasks": args.tasks, "episodes_per_task": args.episodes, "euler_steps": args.euler_steps,
        "episodes_per_s": {f"{w}_workers": round(max(v), 3) for w, v in rates.items()},
        "speedup_2_vs_1": round(max(rates[2]) / max(rates[1]), 2),
        "overhead_task": args.tasks[0], "steps": steps, "policy_calls": calls,
        "loop_cpu_s": round(min(loop), 3), "raw_cpu_s": round(min(raw), 3),
        "loop_overhead_pct": round(100 * (min(loop) - min(raw)) / min(raw), 1),
    }, indent=2))


if __name__ == "__main__":
    main()
