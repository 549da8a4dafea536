"""The transfer experiment end to end on the debug profile: real gameplay chunks of three games."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
import yaml

from padflow.config import load_params
from padflow.experiments.transfer import TransferConfig, budget_index, split_index
from padflow.overlay.library import BUILTIN_SKIN_DIR
from padflow.overlay.render import Placement, draw_overlay
from padflow.overlay.skin import load_skin
from padflow.players.footage import record_gameplay
from padflow.tables import write_action_table
from padflow.tracking import metric_name
from padflow.video import write_mp4

FPS = 30.0
HORIZON = 16
SECONDS = 2.2  # 66 frames: four 16-frame chunks
GAMES = {"pong": "pong_score_point", "crafter": "crafter_collect_wood", "doom": "doom_basic_first_shot"}
VIDEOS_PER_GAME = 2


def write_chunk_index(root: Path, games: dict[str, str] = GAMES) -> Path:
    """Scripted gameplay with its overlay drawn, as videos + action tables + a gate-style chunk index."""
    skin = load_skin(BUILTIN_SKIN_DIR / "xbox-01.json")
    placement = Placement(anchor="bottom-left", width_frac=0.25)
    rows = []
    for game, task_id in games.items():
        for k in range(VIDEOS_PER_GAME):
            video_id = f"{game}{k}"
            frames, actions, _, _ = record_gameplay(task_id, "expert", seed=k, seconds=SECONDS, fps=FPS)
            drawn = [draw_overlay(f, skin, a, placement) for f, a in zip(frames, actions)]
            write_mp4(root / "data/videos" / f"{video_id}.mp4", [f for f, _ in drawn], FPS)
            write_action_table(root / "data/tables" / f"{video_id}.parquet", actions, FPS)
            h, w = frames[0].shape[:2]
            for start in range(0, len(frames) - HORIZON + 1, HORIZON):
                rows.append({"video_id": video_id, "video_path": f"data/videos/{video_id}.mp4",
                             "table_path": f"data/tables/{video_id}.parquet", "start_frame": start, "frames": HORIZON,
                             "overlay_box": list(drawn[0][1]), "game_box": [0, 0, w, h], "game": game})
    path = root / "data/gate/chunks.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def test_budget_keeps_every_video_and_the_first_share_of_its_chunks(tmp_path: Path) -> None:
    held = pd.DataFrame({"video_id": ["a"] * 4 + ["b"] * 2, "start_frame": [48, 0, 16, 32, 16, 0]})
    part = budget_index(held, 0.5)
    assert sorted(zip(part["video_id"], part["start_frame"])) == [("a", 0), ("a", 16), ("b", 0)]


def test_an_index_without_game_labels_names_what_is_missing(tmp_path: Path) -> None:
    index = pd.DataFrame({"video_id": ["a", "b"], "game": ["unknown", "unknown"]})
    with pytest.raises(ValueError, match="no chunks of the held-out game 'doom'.*ingest manifest"):
        split_index(index, "doom", tmp_path / "chunks.parquet")


def test_code_defaults_are_params_yaml_defaults() -> None:
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    assert asdict(TransferConfig()) == asdict(TransferConfig(**params["transfer"]))


def test_one_mode_or_a_list_of_modes_and_no_mode_twice() -> None:
    assert TransferConfig(trainable="lora").trainable == ("lora",)
    assert TransferConfig(trainable=["all", "lora"]).trainable == ("all", "lora")
    with pytest.raises(ValueError, match="lists a mode twice"):
        TransferConfig(trainable=["lora", "lora"])


def test_a_game_without_tasks_is_refused() -> None:
    with pytest.raises(ValueError, match="game 'tetris' has no tasks"):
        TransferConfig(game="tetris")


@pytest.mark.slow
def test_transfer_runs_end_to_end_and_reports_every_held_out_task(project: Path) -> None:
    import mlflow

    from padflow.experiments.transfer import run

    write_chunk_index(project)
    params = load_params(project / "params.yaml")
    params["transfer"] = {**params["transfer"], "trainable": ["all", "lora"], "finetune_lr": {"lora": 5e-4}}
    result = run(params, project)

    cfg = params["transfer"]
    out = project / cfg["out_dir"]
    table = pd.read_parquet(out / "transfer.parquet")
    expected = {(f, m, t) for f in cfg["data_fractions"] for m in cfg["trainable"] for t in [*cfg["tasks"], "average"]}
    assert set(zip(table["fraction"], table["trainable"], table["task"])) == expected
    for column in ("zero_shot", "scratch", "finetune"):
        assert table[column].between(0, 1).all()
    # every difference comes with its 95% interval, the relative improvement too
    assert (table["difference_low"] <= table["difference"]).all() and (table["difference"] <= table["difference_high"]).all()
    assert (table["relative_low"] <= table["relative_high"]).all()
    # the smaller budget trains on fewer chunks
    chunks = dict(zip(table["fraction"], table["chunks"]))
    assert chunks[min(chunks)] < chunks[max(chunks)]
    summary = json.loads((out / "summary.json").read_text())
    # one pre-training and one scratch run per budget serve every fine-tuning mode
    assert set(summary["runs"]) == {"pretrain", "scratch_f1", "scratch_f0.5", "finetune_all_f1", "finetune_all_f0.5",
                                    "finetune_lora_f1", "finetune_lora_f0.5"}
    assert summary["runs"]["pretrain"]["train_chunks"] > 0
    # each fine-tuned arm trained at its mode's rate: lora at its own, all at train.lr like scratch
    lr = params["train"]["lr"]
    assert f"trainable: lora, lr {5e-4:g}" in (out / "finetune_lora_f1/policy/README.md").read_text()
    assert f"trainable: all, lr {lr:g}" in (out / "finetune_all_f1/policy/README.md").read_text()

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`padflow.stage` = 'transfer'")
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"
    logged = f"metrics.{metric_name('f1.lora.average.finetune')}"  # MLflow's name: dotted levels as `/` sections
    assert runs.iloc[0][logged] == pytest.approx(result["metrics"]["f1.lora.average.finetune"])
