"""Policy speed on this machine: `python bench/policy.py [--profiles small nitrogen-500m] [--repeats N]`.

(a) Chunk inference latency (one frame → 16 actions, 16 Euler steps) per model profile, with the
    image context (ViT tokens, mixer, cross-attention K/V) computed once per chunk, and recomputed
    at every Euler step, as a model without the reuse would.
(b) Training throughput of the `train.model` profile on real chunks: samples/s of full training
    steps (augment, loss, backward, AdamW), and of data loading alone (DataLoader over the frame
    cache, then to_model_input + augment), which must outpace training at least twofold.

Training data: `--root` with a gate chunk index (data/gate/chunks.parquet); without one, an index
is built in a temp folder from this project's ingested videos and the corpus's ground-truth
action tables (data/ingest + data/corpus_truth), the same chunking the gate does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.policy import FlowMatchingPolicy, augment, parameter_counts, policy_profile, to_model_input
from models.policy.data import ChunkDataModule
from padflow.config import from_mapping, load_params, project_root
from padflow.tables import CHUNK_INDEX_SCHEMA, read_action_table, table_to_actions, write_chunk_index
from padflow.chunking import cut_chunks
from tasks.gate import GateConfig
from tasks.train import TrainConfig

UNLIMITED_MOTION = 1e9  # ground-truth chunking skips the gate's motion filter (no decode needed)
WARMUP_STEPS = 2  # untimed training steps (allocator, first-call costs)


def truth_chunk_index(project: Path, out_root: Path) -> Path:
    """A chunk index over the project's ingested corpus videos, labelled by the corpus's true actions."""
    report = json.loads((project / "data/ingest/ingest_report.json").read_text())
    gate = GateConfig()
    rows = []
    for row in report["files"]:
        truth_json = project / "data/corpus_truth" / f"{Path(row['path']).stem}.json"
        if row.get("status") != "accepted" or not truth_json.is_file():
            continue
        truth = json.loads(truth_json.read_text())
        if truth.get("overlay_box") is None:
            continue
        table = truth_json.with_suffix(".parquet")
        actions = table_to_actions(read_action_table(table))
        for start, density, motion, verdict in cut_chunks(actions, np.full(len(actions), UNLIMITED_MOTION, np.float32), gate):
            if verdict == "kept":
                rows.append({"video_id": row["video_id"], "video_path": str(project / "data/ingest" / row["output"]),
                             "table_path": str(table), "start_frame": start, "frames": gate.chunk_size, "fps": 30.0,
                             "overlay_box": [int(v) for v in truth["overlay_box"]],
                             "game_box": [int(v) for v in truth["game_box"]], "game": truth["game"],
                             "density": density, "motion": motion})
    if not rows:
        raise ValueError(f"{project}: no ingested corpus videos with ground truth; run the corpus and ingest stages")
    return write_chunk_index(pd.DataFrame(rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA]), out_root / "data/gate/chunks.parquet")


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def bench_latency(models: dict, profile: str, repeats: int) -> dict:
    cfg = policy_profile(models, profile)
    torch.manual_seed(0)
    policy = FlowMatchingPolicy(cfg).eval()
    frame = torch.zeros(1, 3, cfg.image_size, cfg.image_size)
    policy.sample(frame, steps=1)  # first call: allocator, kernels
    cached = timed(lambda: policy.sample(frame, steps=16), repeats)
    recomputed = timed(lambda: policy.sample(frame, steps=16, recompute_context=True), repeats)
    return {
        "profile": profile,
        "parameters": parameter_counts(policy)["total"],
        "chunk_ms_context_once": round(1000 * statistics.median(cached), 1),
        "chunk_ms_context_every_step": round(1000 * statistics.median(recomputed), 1),
        "speedup": round(statistics.median(recomputed) / statistics.median(cached), 2),
    }


def bench_training(cfg: TrainConfig, root: Path, steps: int) -> dict:
    data = ChunkDataModule(cfg, root, seed=0)
    start = time.perf_counter()
    data.setup("fit")
    cache_s = time.perf_counter() - start
    policy = FlowMatchingPolicy(cfg.policy_config()).train()
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loader = data.train_dataloader()

    def batches():
        while True:
            yield from loader

    stream = batches()
    step_times = []
    for i in range(WARMUP_STEPS + steps):
        batch = next(stream)
        start = time.perf_counter()
        loss = policy.loss({"frames": augment(to_model_input(batch["images"]), cfg.augmentation), "actions": batch["actions"]})
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
        optimizer.step()
        if i >= WARMUP_STEPS:
            step_times.append(time.perf_counter() - start)
    train_sps = cfg.batch_size / statistics.median(step_times)

    load_batches = max(steps, 2 * len(loader))
    start = time.perf_counter()
    seen = 0
    for _ in range(load_batches):
        seen += len(next(stream)["images"])
    load_sps = seen / (time.perf_counter() - start)
    start = time.perf_counter()
    seen = 0
    for _ in range(load_batches):
        batch = next(stream)
        augment(to_model_input(batch["images"]), cfg.augmentation)
        seen += len(batch["images"])
    load_aug_sps = seen / (time.perf_counter() - start)
    return {
        "profile": cfg.model,
        "batch_size": cfg.batch_size,
        "train_chunks": data.split["train_chunks"],
        "frame_cache_setup_s": round(cache_s, 2),
        "train_samples_per_s": round(train_sps, 1),
        "train_step_ms": round(1000 * statistics.median(step_times), 1),
        "loader_samples_per_s": round(load_sps, 1),
        "loader_plus_augment_samples_per_s": round(load_aug_sps, 1),
        "loader_over_training": round(load_aug_sps / train_sps, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["small", "nitrogen-500m"], help="train.models entries to time")
    parser.add_argument("--repeats", type=int, default=3, help="timed chunks per profile (the median is reported)")
    parser.add_argument("--train-steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--root", type=Path, help="project root with data/gate/chunks.parquet (default: build one)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params(project_root() / "params.yaml")
    train_params = params["train"]
    print(json.dumps({"torch_threads": torch.get_num_threads()}))
    if not args.skip_latency:
        for profile in args.profiles:
            print(json.dumps(bench_latency(train_params["models"], profile, args.repeats)), flush=True)
    if not args.skip_training:
        with tempfile.TemporaryDirectory(prefix="padflow-bench-") as tmp:
            root = args.root
            if root is None:
                root = Path(tmp)
                truth_chunk_index(project_root(), root)
            cfg = from_mapping(TrainConfig, train_params, "train")
            cfg = replace(cfg, frame_cache_dir=str(Path(tmp) / "frame_cache"))
            print(json.dumps(bench_training(cfg, root.resolve(), args.train_steps)), flush=True)


if __name__ == "__main__":
    main()
