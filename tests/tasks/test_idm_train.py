"""idm_train: real videos + overlay-labelled chunks → an exported IDM; a killed run resumes from its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from models.idm import decode_video, label_video, load_idm
from models.idm.scoring import score_videos
from padflow.actions import ACTION_INDEX
from padflow.tables import CHUNK_INDEX_SCHEMA, write_action_table, write_chunk_index
from padflow.video import write_mp4
from tasks.idm_train import IdmTrainConfig, train_idm

FPS = 30.0
FRAMES = 48
TINY = {"image_size": 16, "window": 8, "channels": [8, 8, 16], "grid": 2, "width": 16, "layers": 1, "heads": 2}


def sine_stick(v: int, frames: int) -> np.ndarray:
    return np.sin(np.arange(frames) / 5 + v).astype(np.float32)


def scripted_stick(seed: int, frames: int) -> np.ndarray:
    """A scripted player's left stick: left, centre or right (±0.8), each held for 4-11 frames."""
    rng, x, i = np.random.default_rng(seed), np.zeros(frames, np.float32), 0
    while i < frames:
        hold = int(rng.integers(4, 12))
        x[i : i + hold] = rng.choice([-0.8, 0.0, 0.8])
        i += hold
    return x


def render_blocks(x: np.ndarray) -> np.ndarray:
    """A block whose column follows the left stick: uint8 (T, 48, 64, 3)."""
    frames = np.full((len(x), 48, 64, 3), 40, np.uint8)
    for i, xi in enumerate(x):
        col = int(32 + 20 * xi)
        frames[i, 10:30, col - 4 : col + 4] = (230, 200, 60)
    return frames


def make_labelled_project(root: Path, videos: int = 3, stick=sine_stick, frames: int = FRAMES) -> None:
    """Videos whose block moves with the left stick, their action tables and the gate's chunk index."""
    rows = []
    for v in range(videos):
        x = stick(v, frames)
        actions = np.zeros((frames, 21), np.float32)
        actions[:, ACTION_INDEX["LEFT_X"]] = np.round(x, 2)
        actions[:, ACTION_INDEX["SOUTH"]] = x > 0
        video, table = f"data/ingest/videos/v{v}.mp4", f"data/extract/v{v}.parquet"
        write_mp4(root / video, render_blocks(x), FPS, crf=18, preset="ultrafast")
        write_action_table(root / table, actions, FPS)
        rows += [{"video_id": f"v{v}", "video_path": video, "table_path": table, "start_frame": s, "frames": 16, "fps": FPS,
                  "overlay_box": [52, 36, 64, 48], "game_box": [0, 0, 64, 48], "game": "blocks", "density": 1.0, "motion": 30.0}
                 for s in range(0, frames - 15, 16)]
    write_chunk_index(pd.DataFrame(rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA]), root / "data/gate/chunks.parquet")


def test_idm_train_exports_an_idm_and_scores_held_out_videos(tmp_path: Path):
    make_labelled_project(tmp_path)
    result = train_idm(IdmTrainConfig(model=TINY, max_steps=8, batch_size=4, val_every_n_epochs=1), tmp_path, seed=0)
    metrics = result["metrics"]
    assert metrics["global_step"] == 8 and metrics["train_videos"] == 2 and metrics["val_videos"] == 1
    # every frame of the two training videos' kept chunks (3 of 16 frames each) centres a window
    assert metrics["train_windows"] == 2 * 3 * 16
    assert 0.0 <= metrics["val_button_accuracy"] <= 1.0
    # the validation figures pseudo_label admits the IDM by, beside its weights
    scores = json.loads((tmp_path / "data/idm/scores.json").read_text())
    assert scores["val"]["button_accuracy"] == metrics["val_button_accuracy"] and scores["videos"] == {"train": 2, "val": 1}
    assert load_idm(tmp_path / "data/idm").config.window == 8


def test_idm_train_killed_mid_run_resumes_from_its_last_checkpoint(tmp_path: Path, kill_when):
    make_labelled_project(tmp_path)
    checkpoint = tmp_path / "data/idm/checkpoints/last.ckpt"
    script = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
              "from tasks.idm_train import IdmTrainConfig, train_idm;"
              f"train_idm(IdmTrainConfig(model={TINY!r}, max_steps=200, batch_size=4, checkpoint_every_n_steps=4, "
              "val_every_n_epochs=1000), Path('.').resolve(), 0)")
    kill_when(script, tmp_path, checkpoint, str(Path(__file__).resolve().parents[2]))
    killed_at = torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]
    assert 4 <= killed_at < 200, "the kill must land mid-run for this test to mean anything"
    assert not (tmp_path / "data/idm/idm.safetensors").exists()

    cfg = IdmTrainConfig(model=TINY, max_steps=200, batch_size=4, checkpoint_every_n_steps=4, val_every_n_epochs=1000)
    metrics = train_idm(cfg, tmp_path, 0)["metrics"]
    assert metrics["resumed_from_step"] == killed_at
    assert metrics["global_step"] == 200


def test_an_idm_labels_an_unseen_scripted_sequence_far_above_chance(tmp_path: Path):
    # trained on three scripted videos (one more validates), it labels a fourth sequence it never saw
    make_labelled_project(tmp_path, videos=4, stick=scripted_stick, frames=96)
    train_idm(IdmTrainConfig(model=TINY, max_steps=150, batch_size=8), tmp_path, seed=0)
    x = scripted_stick(99, 96)
    write_mp4(tmp_path / "unseen.mp4", render_blocks(x), FPS, crf=18, preset="ultrafast")
    pred, _ = label_video(load_idm(tmp_path / "data/idm"), decode_video(tmp_path / "unseen.mp4", [0, 0, 64, 48], None, 16))
    read = pred[:, ACTION_INDEX["LEFT_X"]]
    pushed = np.abs(x) > 0.5
    chance = max((x[pushed] > 0).mean(), (x[pushed] < 0).mean())  # always guessing the commoner side
    assert (np.sign(read[pushed]) == np.sign(x[pushed])).mean() > chance + 0.3
    truth = np.zeros((96, 21), np.float32)
    truth[:, ACTION_INDEX["LEFT_X"]] = x
    assert score_videos([(pred, truth, None)])["stick_r2_within_axes"]["LEFT_X"] > 0.6
