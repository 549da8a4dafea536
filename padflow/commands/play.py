"""`padflow play TASK --player P --episodes N --seed S [--video PATH] [--json]`."""

from __future__ import annotations

import json

import numpy as np

from padflow.players import DEFAULT_SKILL, PLAYER_KINDS, SKILLS, make_player
from padflow.players.rollout import run_episode
from padflow.sim import make_env
from padflow.video import write_mp4


def register(subparsers) -> None:
    p = subparsers.add_parser("play", help="play a task with a scripted, random or no-op player")
    p.add_argument("task", help="task id (see `padflow tasks`)")
    p.add_argument("--player", choices=PLAYER_KINDS, default="scripted")
    p.add_argument("--skill", choices=tuple(SKILLS), default=DEFAULT_SKILL, help="scripted player's skill")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="first episode seed; episode i uses seed + i")
    p.add_argument("--video", help="write the first episode as an H.264 MP4 here")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {args.episodes}")
    env = make_env(args.task)
    try:
        player = make_player(args.player, env.task, env.fps, args.skill)
        results = []
        for i in range(args.episodes):
            frames: list[np.ndarray] = []
            record = args.video is not None and i == 0
            hook = (lambda frame, action: frames.append(frame)) if record else None
            results.append(run_episode(env, player, args.seed + i, on_frame=hook))
            if record:
                frames.append(env.render())
                write_mp4(args.video, frames, env.fps)
    finally:
        env.close()
    rate = sum(r.success for r in results) / len(results)
    if args.json:
        print(json.dumps({"task": args.task, "player": args.player, "success_rate": rate,
                          "episodes": [r.to_dict() for r in results]}, indent=2))
    else:
        for r in results:
            print(f"seed {r.seed}: {'success' if r.success else 'fail'} in {r.game_seconds:.1f} s of game time")
        print(f"{args.task} / {args.player}: success rate {rate:.2f} over {len(results)} episodes")
        if args.video:
            print(f"video: {args.video}")
    return 0
