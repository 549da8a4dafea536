"""The train stage: real videos + action tables → a policy checkpoint, logged to the stage's MLflow run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from models.policy import FlowMatchingPolicy, load_policy, policy_profile, prepare_frames, save_policy
from padflow.actions import ACTION_INDEX
from padflow.config import load_params
from padflow.commands.stage import run_stage
from padflow.stages import metrics_path
from padflow.tables import (
    CHUNK_INDEX_SCHEMA, NO_OVERLAY_BOX, data_fingerprint, read_chunk_index, write_action_table, write_chunk_index)
from padflow.video import iter_frames, write_mp4
from tasks.evaluate import EvaluateConfig, blind_policy
from tasks.train import TrainConfig, stage, train

FPS = 30.0
FRAMES = 48  # three 16-step chunks per video
SIZE = (80, 60)  # (w, h)
GAME_BOX = (8, 0, 72, 60)  # letterboxed game picture
OVERLAY_BOX = (52, 40, 72, 60)  # controller overlay in the game picture's corner


def make_chunk_index(root: Path, videos: int = 4) -> Path:
    """Real H.264 videos, their action tables and the gate's chunk index, laid out as the pipeline does."""
    rng = np.random.default_rng(0)
    rows = []
    for v in range(videos):
        actions = np.zeros((FRAMES, 21), np.float32)
        x = np.sin(np.arange(FRAMES) / 6 + v).astype(np.float32)
        actions[:, ACTION_INDEX["LEFT_X"]] = np.round(x, 2)
        actions[:, ACTION_INDEX["SOUTH"]] = x > 0
        frames = np.zeros((FRAMES, SIZE[1], SIZE[0], 3), np.uint8)
        frames[:, :, GAME_BOX[0] : GAME_BOX[2]] = (40, 60, 40)
        for i in range(FRAMES):  # the player's block sits where the stick points
            col = int(GAME_BOX[0] + 28 + 20 * x[i])
            frames[i, 10:30, col - 4 : col + 4] = (230, 200, 60)
            frames[i, OVERLAY_BOX[1] : OVERLAY_BOX[3], OVERLAY_BOX[0] : OVERLAY_BOX[2]] = rng.integers(0, 255, (20, 20, 3))
        video = f"data/ingest/videos/v{v}.mp4"
        table = f"data/extract/v{v}.parquet"
        write_mp4(root / video, frames, FPS, crf=18, preset="ultrafast")
        write_action_table(root / table, actions, FPS)
        for start in range(0, FRAMES - 15, 16):
            rows.append({"video_id": f"v{v}", "video_path": video, "table_path": table, "start_frame": start,
                         "frames": 16, "fps": FPS, "overlay_box": list(OVERLAY_BOX), "game_box": list(GAME_BOX),
                         "game": "blocks" if v % 2 else "boxes", "density": 1.0, "motion": 5.0})
    index = pd.DataFrame(rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA])
    return write_chunk_index(index, root / "data/gate/chunks.parquet")


def run_train_stage(root: Path) -> tuple[dict, str]:
    """`padflow stage train` in this process; returns its metrics and its MLflow run id."""
    import mlflow

    result = run_stage("train", root)
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`padflow.stage` = 'train'",
                              order_by=["start_time DESC"], output_format="list")
    return dict(result.metrics), runs[0].info.run_id


def test_train_config_names_bad_fields():
    models = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["train"]["models"]
    with pytest.raises(ValueError, match="model 'huge' is not one of models"):
        TrainConfig(model="huge", models=models)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(model="tiny", models=models, ema_decay=1.0)
    with pytest.raises(ValueError, match="train.models.tiny: .*image_size"):
        TrainConfig(model="tiny", models={"tiny": {"image_size": 30, "patch_size": 8}})
    with pytest.raises(ValueError, match="trainable 'lora' freezes weights that would stay random: set init_from"):
        TrainConfig(model="tiny", models=models, trainable="lora")


def test_a_fine_tune_starts_both_arms_from_init_from_and_exports_plain_policies(tmp_path: Path):
    """train.init_from (relative to the project root) + train.trainable through the stage's own train(): both arms
    start from the folder, train only their adapters, and export policy folders load_policy reads."""
    models = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["train"]["models"]
    make_chunk_index(tmp_path, videos=2)
    torch.manual_seed(1)
    start = save_policy(FlowMatchingPolicy(policy_profile(models, "tiny")), tmp_path / "data/init")
    cfg = TrainConfig(model="tiny", models=models, init_from="data/init", trainable="lora", lora_rank=2, max_steps=2,
                      batch_size=2, val_fraction=0.5, val_chunk_samples=1, sample_steps=2, accelerator="cpu")
    initial = load_policy(start).state_dict()
    for blind in (False, True):
        result = train(cfg, tmp_path, seed=0, blind=blind)
        exported = load_policy(result["policy_dir"])
        assert exported.cfg.frame_input == ("blind" if blind else "frame")
        moved = {k for k, v in exported.state_dict().items() if not torch.equal(v, initial[k])}
        assert moved and all(k.endswith(".weight") and "attn." in k for k in moved)  # attention projections only
        assert result["metrics"]["trained_parameters"] < result["metrics"]["parameters"]
    assert f"Fine-tuned from the policy in `data/init` (trainable: lora, lr {cfg.lr:g})" in (result["policy_dir"] / "README.md").read_text()


def test_label_sources_choose_whose_chunks_train_the_policy(tmp_path: Path):
    """train.label_sources: the gate's overlay chunks, pseudo_label's IDM chunks (overlay-free videos), or both."""
    models = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["train"]["models"]
    index = read_chunk_index(make_chunk_index(tmp_path, videos=4))
    pseudo = index[index["video_id"].isin(["v2", "v3"])].assign(label_source="idm", overlay_box=[list(NO_OVERLAY_BOX)] * 6)
    write_chunk_index(index[index["video_id"].isin(["v0", "v1"])], tmp_path / "data/gate/chunks.parquet")
    cfg = TrainConfig(model="tiny", models=models, max_steps=1, batch_size=2, val_fraction=0.5, val_chunk_samples=1,
                      sample_steps=1, accelerator="cpu", label_sources=("overlay", "idm"))
    with pytest.raises(ValueError, match="asks for IDM labels, but .*pseudo_label/chunks.parquet does not exist: run the pseudo_label stage"):
        train(cfg, tmp_path, seed=0)
    write_chunk_index(pseudo, tmp_path / "data/pseudo_label/chunks.parquet")
    both = train(cfg, tmp_path, seed=0)["metrics"]
    assert (both["chunks_overlay"], both["chunks_idm"]) == (6, 6)
    assert both["train_chunks"] + both["val_chunks"] == 12
    idm_only = train(replace(cfg, label_sources=("idm",)), tmp_path, seed=0)["metrics"]
    assert idm_only["chunks_idm"] == 6 and "chunks_overlay" not in idm_only
    overlay_only = train(replace(cfg, label_sources=("overlay",)), tmp_path, seed=0)["metrics"]
    assert overlay_only["chunks_overlay"] == 6 and "chunks_idm" not in overlay_only
    with pytest.raises(ValueError, match="label_sources lists a source twice"):
        replace(cfg, label_sources=("idm", "idm"))


def test_without_a_blind_arm_the_stage_says_so_where_the_blind_arm_would_be(tmp_path: Path):
    """train.blind_arm false: blind/ (a DVC output) holds a note instead of an earlier run's arm, and evaluate's
    blind baseline names the folder and the setting instead of failing on a missing file."""
    models = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["train"]["models"]
    make_chunk_index(tmp_path, videos=2)
    cfg = dict(model="tiny", models=models, max_steps=1, batch_size=2, val_fraction=0.5, val_chunk_samples=1,
               sample_steps=1, accelerator="cpu")
    both = stage({"train": cfg, "seed": 0}, tmp_path)
    assert (tmp_path / "data/train/blind/loss_curve.png").stat().st_size > 0 and "blind.val_loss" in both.metrics
    alone = stage({"train": {**cfg, "blind_arm": False}, "seed": 0}, tmp_path)
    assert "blind.val_loss" not in alone.metrics and (tmp_path / "data/train/policy/policy_config.json").is_file()
    assert [p.name for p in (tmp_path / "data/train/blind").iterdir()] == ["README.md"]
    assert "`train.blind_arm` was false" in (tmp_path / "data/train/blind/README.md").read_text()
    with pytest.raises(ValueError, match="blind_checkpoint .*data/train/blind: holds no policy .*train.blind_arm false"):
        blind_policy(EvaluateConfig(baselines=("blind",)), tmp_path)


@pytest.mark.slow
def test_stage_trains_exports_and_logs_to_its_mlflow_run(project: Path):
    import mlflow

    make_chunk_index(project)
    metrics, run_id = run_train_stage(project)
    cfg = load_params(project / "params.yaml")["train"]
    assert metrics["global_step"] == cfg["max_steps"] and metrics["resumed_from_step"] == 0
    assert json.loads(metrics_path(project, "train").read_text())["val_loss"] == metrics["val_loss"]
    for name in ("val_loss", "val_button_f1", "val_stick_mse", "val_baseline_button_f1", "val_baseline_stick_mse",
                 "val_game_mean_stick_mse"):
        assert np.isfinite(metrics[name]), name
    split = json.loads((project / "data/train/split.json").read_text())
    assert not set(split["train"]) & set(split["val"]) and split["val_chunks"] > 0
    assert (project / "data/train/loss_curve.png").stat().st_size > 0

    # The exported EMA policy runs on a decoded video frame through the simulator's preprocessing.
    policy = load_policy(project / "data/train/policy")
    frame = next(iter(iter_frames(project / "data/ingest/videos/v0.mp4")))
    chunk = policy.sample(prepare_frames(frame, GAME_BOX, OVERLAY_BOX, "black", policy.cfg.image_size))
    assert chunk.shape == (1, 16, 21)

    # The blind arm: the same network trained on the same chunks, whose output no frame can change.
    blind = load_policy(project / "data/train/blind")
    assert blind.cfg.frame_input == "blind" and policy.cfg.frame_input == "frame"
    assert np.isfinite(metrics["blind.val_loss"]) and (project / "data/train/blind/loss_curve.png").stat().st_size > 0
    assert "blind baseline" in (project / "data/train/blind/README.md").read_text()
    other = np.zeros_like(frame)
    picks = [m.sample(prepare_frames(f, GAME_BOX, OVERLAY_BOX, "black", 32), generator=torch.Generator().manual_seed(0))
             for m in (blind, policy) for f in (frame, other)]
    assert torch.equal(picks[0], picks[1]) and not torch.equal(picks[2], picks[3])

    # Lightning's logger wrote into the stage's own run, which the shell then closed.
    client = mlflow.tracking.MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run_id, "train/loss")) >= 1
    assert client.get_metric_history(run_id, "val/button_f1")
    assert run.data.metrics["global_step"] == cfg["max_steps"]
    # The export carries its model card; the run logged it as the registered model and the chunk index as its dataset.
    card = (project / "data/train/policy/README.md").read_text()
    assert "## Training data" in card and "| val_loss |" in card and "## Intended use" in card
    [version] = client.search_model_versions("name = 'padflow-policy'")
    assert version.run_id == run_id and "padflow flow-matching policy" in version.description
    chunk = mlflow.pyfunc.load_model(f"models:/padflow-policy/{version.version}").predict(frame[None])
    assert chunk.shape == (1, 16, 21)
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.name == "chunk_index" and dataset.dataset.digest == data_fingerprint(project / "data/gate/chunks.parquet", project)


@pytest.mark.slow
def test_training_killed_mid_run_resumes_from_its_last_checkpoint(project: Path, kill_when):
    profile_path = project / "profiles" / "debug.yaml"
    profile = yaml.safe_load(profile_path.read_text())
    profile["train"].update({"max_steps": 60, "checkpoint_every_n_steps": 4, "val_every_n_epochs": 50})
    profile_path.write_text(yaml.safe_dump(profile, sort_keys=False))
    make_chunk_index(project)
    checkpoint = project / "data/train/checkpoints/last.ckpt"
    script = ("import sys; from pathlib import Path; sys.path.insert(0, '.');"
              "from padflow.config import load_params; from tasks.train import stage;"
              "stage(load_params(Path('params.yaml')), Path('.').resolve())")
    kill_when(script, project, checkpoint)
    killed_at = torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]
    assert 4 <= killed_at < 60, "the kill must land mid-run for this test to mean anything"
    assert not (project / "data/train/policy").exists()

    metrics, _ = run_train_stage(project)
    assert metrics["resumed_from_step"] == killed_at
    assert metrics["global_step"] == 60
    assert load_policy(project / "data/train/policy").cfg.image_size == 32

    # New labels for the same chunks (a re-extraction): the finished run is not resumed on them.
    actions = np.zeros((FRAMES, 21), np.float32)
    actions[:, ACTION_INDEX["SOUTH"]] = 1.0
    write_action_table(project / "data/extract/v0.parquet", actions, FPS)
    metrics, _ = run_train_stage(project)
    assert metrics["resumed_from_step"] == 0 and metrics["global_step"] == 60
