"""`padflow policy info|act|import-nitrogen`: parameter counts of a policy size, one chunk of actions from
an image, and the released NitroGen checkpoint converted without executing its pickle."""

from __future__ import annotations

import json
from pathlib import Path

from padflow.config import load_params


def register(subparsers) -> None:
    p = subparsers.add_parser("policy", help="inspect the flow-matching policy or run it on one image")
    sub = p.add_subparsers(dest="policy_command", required=True, metavar="ACTION")

    info = sub.add_parser("info", help=(
        "parameter counts by module, in total, and trained by each train.trainable mode (built on the meta device: "
        "no memory)"))
    info.add_argument("--profile", help="entry of params.yaml train.models (default: train.model)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)

    act = sub.add_parser("act", help="print the 16-step action chunk a trained policy picks for one image")
    act.add_argument("--checkpoint", type=Path, required=True, metavar="DIR",
                     help="exported policy folder (policy.safetensors + policy_config.json), e.g. data/train/policy")
    act.add_argument("--image", type=Path, required=True, metavar="PNG", help="RGB screenshot of the game picture")
    act.add_argument("--steps", type=int, default=16, metavar="N", help="Euler steps from noise (default 16)")
    act.add_argument("--seed", type=int, default=0, help="seed of the starting noise")
    act.add_argument("--json", action="store_true", help="print the chunk as a JSON list of {control: value}")
    act.set_defaults(func=run_act)

    imp = sub.add_parser("import-nitrogen", help=(
        "convert the released NitroGen checkpoint (ng.pt) into a policy folder; its pickle is read without "
        "executing anything"))
    imp.add_argument("checkpoint", type=Path, metavar="NG_PT", help="the released checkpoint file (ng.pt)")
    imp.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help="folder to write policy.safetensors + policy_config.json + release_import.json")
    imp.set_defaults(func=run_import_nitrogen)


def run_info(args) -> int:
    # torch, transformers and the model load only when a policy command runs (cold CLI path)
    from models.policy import build_meta_policy, parameter_counts, policy_profile
    from models.policy.finetune import DEFAULT_LORA_RANK, trained_counts

    train = load_params().get("train") or {}
    name = args.profile or train.get("model")
    if not name:
        raise ValueError("no model profile: pass --profile or set train.model in params.yaml")
    cfg = policy_profile(train.get("models") or {}, name)
    counts = parameter_counts(build_meta_policy(cfg))
    rank = int(train.get("lora_rank", DEFAULT_LORA_RANK))
    trained = trained_counts(cfg, rank)
    if args.json:
        print(json.dumps({"profile": name, "parameters": counts, "trained": trained, "lora_rank": rank}, indent=2))
    else:
        width = max(len(k) for k in [*counts, *trained])
        print(f"policy profile {name}")
        for part, n in counts.items():
            print(f"  {part:<{width}}  {n:>13,}  ({n / 1e6:.1f}M)")
        print(f"trained by train.trainable (lora at rank {rank})")
        for mode, n in trained.items():
            print(f"  {mode:<{width}}  {n:>13,}  ({n / counts['total']:.1%})")
    return 0


def run_act(args) -> int:
    # cv2, torch and the model load only when a policy command runs (cold CLI path)
    import cv2
    import torch

    from models.policy import load_policy, prepare_frames
    from padflow.actions import action_to_dict, pressed

    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    bgr = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{args.image}: not a readable image")
    policy = load_policy(args.checkpoint)
    # The image is the whole game picture with no overlay, as in the simulator.
    frames = prepare_frames(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None, None, "none", policy.cfg.image_size)
    chunk = policy.sample(frames, steps=args.steps, generator=torch.Generator().manual_seed(args.seed))[0].numpy()
    if args.json:
        print(json.dumps([action_to_dict(a) for a in chunk], indent=1))
        return 0
    print(f"{'step':>4}  {'LX':>6} {'LY':>6} {'RX':>6} {'RY':>6}  buttons")
    for i, a in enumerate(chunk):
        lx, ly, rx, ry = (float(v) for v in a[17:])
        print(f"{i:>4}  {lx:>6.2f} {ly:>6.2f} {rx:>6.2f} {ry:>6.2f}  {' '.join(pressed(a)) or '-'}")
    return 0


def run_import_nitrogen(args) -> int:
    # torch and the model load only when a policy command runs (cold CLI path)
    from models.policy.release import import_release

    record = import_release(args.checkpoint, args.out)
    steps = record["release"].get("euler_steps")
    print(f"{args.checkpoint}: {record['tensors']} tensors, {record['parameters']:,} parameters → {args.out}")
    if record["dropped"]:
        print(f"  dropped (not built by padflow; see docs/nitrogen.md): {', '.join(record['dropped'])}")
    print(f"  run it: padflow policy act --checkpoint {args.out} --image FRAME.png --steps {steps or 16}")
    return 0
