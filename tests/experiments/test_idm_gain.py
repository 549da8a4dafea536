"""The pseudo-label experiment: arms, minutes, differences with intervals, and an exchange rate only where it exists."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from padflow.config import from_mapping, load_params
from padflow.experiments.idm_gain import IdmGainConfig, arm_index, exchange_rate, label_minutes
from padflow.overlay.library import BUILTIN_SKIN_DIR
from padflow.overlay.render import Placement, draw_overlay
from padflow.overlay.skin import load_skin
from padflow.players.footage import record_gameplay
from padflow.tables import CHUNK_INDEX_SCHEMA, NO_OVERLAY_BOX, write_action_table, write_chunk_index
from padflow.video import write_mp4
from tasks.train import TrainConfig

FPS = 30.0
HORIZON = 16
SECONDS = 2.2  # 66 frames: four 16-frame chunks
TASKS = {"doom": "doom_basic_first_shot", "pong": "pong_score_point"}


def write_indexes(root: Path) -> None:
    """Scripted gameplay: two videos per game with the overlay drawn (the gate's index) and one without (pseudo_label's,
    its true actions standing in for the IDM's labels)."""
    skin = load_skin(BUILTIN_SKIN_DIR / "xbox-01.json")
    placement = Placement(anchor="bottom-left", width_frac=0.25)
    rows: dict[str, list[dict]] = {"overlay": [], "idm": []}
    for game, task_id in TASKS.items():
        for k, source in enumerate(("overlay", "overlay", "idm")):
            video_id = f"{game}{k}"
            frames, actions, _, _ = record_gameplay(task_id, "expert", seed=k, seconds=SECONDS, fps=FPS)
            box = NO_OVERLAY_BOX
            if source == "overlay":
                drawn = [draw_overlay(f, skin, a, placement) for f, a in zip(frames, actions)]
                frames, box = [f for f, _ in drawn], drawn[0][1]
            write_mp4(root / "data/videos" / f"{video_id}.mp4", frames, FPS)
            write_action_table(root / "data/tables" / f"{video_id}.parquet", actions, FPS)
            h, w = frames[0].shape[:2]
            for start in range(0, len(frames) - HORIZON + 1, HORIZON):
                rows[source].append({"video_id": video_id, "video_path": f"data/videos/{video_id}.mp4",
                                     "table_path": f"data/tables/{video_id}.parquet", "start_frame": start,
                                     "frames": HORIZON, "fps": FPS, "overlay_box": list(box), "game_box": [0, 0, w, h],
                                     "game": game, "label_source": source})
    columns = [f.name for f in CHUNK_INDEX_SCHEMA]
    write_chunk_index(pd.DataFrame(rows["overlay"], columns=columns), root / "data/gate/chunks.parquet")
    write_chunk_index(pd.DataFrame(rows["idm"], columns=columns), root / "data/pseudo_label/chunks.parquet")


def test_minutes_count_each_source_and_overlapping_chunks_once():
    index = pd.DataFrame({"video_id": ["a", "a", "b"], "start_frame": [0, 8, 0], "frames": [16, 16, 16],
                          "fps": [30.0] * 3, "label_source": ["overlay", "overlay", "idm"]})
    assert label_minutes(index) == {"overlay": round(24 / 30 / 60, 3), "idm": round(16 / 30 / 60, 3)}


def test_no_exchange_rate_from_a_difference_that_may_be_noise():
    minutes = {"overlay": {"overlay": 10.0}, "overlay_part": {"overlay": 5.0}, "both": {"overlay": 10.0, "idm": 30.0}}
    clear = {("both", "trained"): {"difference": 0.1, "ci_low": 0.02, "ci_high": 0.2},
             ("overlay_part", "trained"): {"difference": -0.2, "ci_low": -0.3, "ci_high": -0.1}}
    # 0.2 per 5 overlay minutes vs 0.1 per 30 pseudo-labelled minutes: one overlay minute is worth 12
    assert exchange_rate(clear, minutes)["value"] == pytest.approx(12.0)
    noisy = {**clear, ("both", "trained"): {"difference": 0.05, "ci_low": -0.05, "ci_high": 0.15}}
    out = exchange_rate(noisy, minutes)
    assert out["value"] is None and "both − overlay is +0.050 [-0.050, +0.150]: not above 0" in out["why"]


def test_an_arm_of_pseudo_labels_the_idm_was_not_admitted_for_fails_first_and_says_why(tmp_path: Path):
    columns = [f.name for f in CHUNK_INDEX_SCHEMA]
    write_chunk_index(pd.DataFrame([], columns=columns), tmp_path / "data/pseudo_label/chunks.parquet")
    (tmp_path / "data/pseudo_label/pseudo_label_report.json").write_text(json.dumps(
        {"idm_admission": {"reasons": ["buttons: validation F1 0.0 below 0.2"]}}))
    train_cfg = from_mapping(TrainConfig, load_params(Path(__file__).resolve().parents[2] / "params.yaml")["train"], "train")
    with pytest.raises(ValueError, match=r"arm 'both'.*no chunk.*not admitted: buttons: validation F1 0.0 below 0.2"):
        arm_index("both", train_cfg, tmp_path, 0.5)


def test_the_config_needs_the_overlay_arm():
    with pytest.raises(ValueError, match="arms must include 'overlay'"):
        IdmGainConfig(arms=("both", "idm"))


@pytest.mark.slow
def test_idm_gain_trains_every_arm_and_compares_them_on_the_same_episodes(project: Path) -> None:
    import mlflow

    from padflow.experiments.idm_gain import run

    write_indexes(project)
    params = load_params(project / "params.yaml")
    result = run(params, project)

    summary = json.loads((project / params["idm_gain"]["out_dir"] / "summary.json").read_text())
    assert summary["chunks"] == {"overlay": 16, "both": 24, "idm": 8, "overlay_part": 8}
    assert set(summary["minutes"]["both"]) == {"overlay", "idm"} and set(summary["minutes"]["idm"]) == {"idm"}
    episodes = {arm: {t: c["episodes"] for t, c in tasks.items()} for arm, tasks in summary["tasks"].items()}
    assert len({json.dumps(e, sort_keys=True) for e in episodes.values()}) == 1  # every arm played the same tasks
    assert {(d["arm"], d["split"]) for d in summary["differences"]} >= {("both", "trained"), ("idm", "trained")}
    for d in summary["differences"]:
        assert d["ci_low"] <= d["difference"] <= d["ci_high"]
    assert "Overlay-free minutes worth one overlay minute" in (project / params["idm_gain"]["out_dir"] / "idm_gain.md").read_text()

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`padflow.stage` = 'idm_gain'")
    assert len(runs) == 1 and runs.iloc[0]["status"] == "FINISHED"
    assert result["metrics"]["both.chunks"] == 24
