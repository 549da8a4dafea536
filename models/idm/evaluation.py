"""Score the IDM against the corpus ground truth (data/corpus_truth) and against overlay labels.

Two questions, both answered with models.idm.scoring's figures, overall and by game:

    pseudo_labels   the pseudo_label stage's tables of overlay-free videos vs what was really pressed:
                    the label quality a policy trained on pseudo-labels gets
    heldout_overlay the IDM (labelling each whole video, as pseudo_label does) on the overlay videos
                    idm_train held out for validation (split.json `val`), against the true actions
                    and against the overlay-extracted labels it was trained to reproduce

Videos are joined to the truth through the ingest report (input `<name>.mp4` → video_id), as
padflow.overlay.scoring joins extraction to it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from models.idm.modeling import InverseDynamicsModel
from models.idm.processor import decode_video, label_video
from models.idm.scoring import ActionScore
from padflow.ingest.report import accepted_videos, read_report
from padflow.tables import read_action_table, read_chunk_index, table_observed, table_to_actions, video_rate_actions

REPORT_FILE = "pseudo_label_report.json"  # the pseudo_label stage's report (tasks/pseudo_label.py writes it, score_pseudo_labels reads it)


def corpus_truth(truth_dir: Path, ingest_dir: Path) -> dict[str, tuple[str, np.ndarray]]:
    """video_id → (game, true actions (T, 21)) for every corpus video ingest accepted."""
    if not truth_dir.is_dir():
        raise ValueError(f"{truth_dir}: no corpus ground truth to score against (run the corpus stage)")
    id_of = {Path(r["path"]).stem: vid for vid, r in accepted_videos(read_report(ingest_dir)).items()}
    out = {}
    for sidecar in sorted(truth_dir.glob("*.json")):
        table = sidecar.with_suffix(".parquet")
        if not table.is_file() or sidecar.stem not in id_of:
            continue
        truth = json.loads(sidecar.read_text())
        game = str(truth.get("game") or "unknown")
        out[id_of[sidecar.stem]] = (game, table_to_actions(read_action_table(table)))
    return out


def _by_game(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]) -> dict[str, Any]:
    """rows of (game, pred, truth, observed) → {"all": summary, "by_game": {game: summary}, "videos": n}."""
    total, games = ActionScore(), defaultdict(ActionScore)
    for game, pred, truth, observed in rows:
        n = min(len(pred), len(truth))
        total.add(pred[:n], truth[:n], observed)
        games[game].add(pred[:n], truth[:n], observed)
    return {"videos": len(rows), "all": total.summary(), "by_game": {g: s.summary() for g, s in sorted(games.items())}}


def score_pseudo_labels(pseudo_dir: Path, truth: dict[str, tuple[str, np.ndarray]]) -> dict[str, Any]:
    """The pseudo-label tables listed in the stage's report (REPORT_FILE) vs the corpus truth."""
    report = json.loads((pseudo_dir / REPORT_FILE).read_text())
    rows = []
    for row in report["videos"]:
        if row["status"] != "labelled" or row["video_id"] not in truth:
            continue
        game, actions = truth[row["video_id"]]
        table = read_action_table(pseudo_dir / f"{row['video_id']}.parquet")
        rows.append((game, table_to_actions(table), actions, table_observed(table)))
    return _by_game(rows)


def score_heldout_overlay(model: InverseDynamicsModel, root: Path, index_path: Path, split_path: Path,
                          truth: dict[str, tuple[str, np.ndarray]]) -> dict[str, Any]:
    """The IDM on idm_train's validation videos vs the true actions and vs their overlay labels."""
    val = set(json.loads(split_path.read_text())["val"])
    index = read_chunk_index(index_path)
    vs_truth, vs_overlay = [], []
    for video_id, rows in index[index["video_id"].isin(val)].groupby("video_id", sort=True):
        first = rows.iloc[0]
        frames = decode_video(root / first["video_path"], list(first["game_box"]), list(first["overlay_box"]), model.config.image_size)
        pred, _ = label_video(model, frames)
        table = read_action_table(root / first["table_path"])
        game = str(first["game"])
        vs_overlay.append((game, pred, video_rate_actions(table, first.get("fps")), table_observed(table)))
        if video_id in truth:
            vs_truth.append((game, pred, truth[video_id][1], None))
    return {"vs_truth": _by_game(vs_truth), "vs_overlay_labels": _by_game(vs_overlay)}
