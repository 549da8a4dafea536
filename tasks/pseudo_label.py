"""pseudo_label: label every overlay-free video with the IDM, check the tables with the gate's suite, score them.

For each ingested video extract read no table from — `no_overlay`, and `unknown_skin` (an overlay
is there, at a box extract recorded, but no library skin explains it, so no layout can read it) —
find its game picture (the gate's convention: pixels ever brighter than `game_area_threshold`,
outside the overlay's box), decode it cropped with the overlay's box masked black (as the IDM's
training frames and the policy's are), label it whole with the IDM of idm_train
(models.idm.processor.label_video) and write

    <out_dir>/<video_id>.parquet          action table in extract's format (padflow.tables), every control
                                          the IDM read; per-frame confidence = the least sure button's
                                          max(p, 1 - p)
    <out_dir>/<video_id>.json             record: `source: idm`, the IDM's weights hash, game box, the
                                          masked overlay box (null without an overlay), extract's status,
                                          `inliers: null` (no skin was fitted) with the reason
    <out_dir>/chunks.parquet              the labelled tables cut into training chunks by the gate's rule
                                          (padflow.chunking, params `gate`), `label_source: idm`; train
                                          reads it when train.label_sources has idm. Empty when the IDM
                                          is not admitted (below)
    <out_dir>/pseudo_label_report.json    every video's status (labelled | quarantined) and extract's, the gate
                                          suite's reasons, chunks kept, and the pseudo-label score

Each table is validated with the gate's Great Expectations suite (padflow.expectations:
schema, contiguity, length, timing, ranges, stuck buttons) with this stage's confidence bar
(`min_confidence`, `max_low_confidence_share`): the IDM-confidence expectation. A table that fails
is `quarantined` and listed with its reasons.

The IDM's readings are admitted into training per control, by its figures on idm_train's
validation videos against their overlay labels (data/idm/scores.json): the buttons together when
their F1 reaches `min_idm_button_f1`, each stick axis when its R² within video (around each video's
own mean, models.idm.scoring: knowing the game alone scores 0) reaches `min_idm_stick_r2`. A
control not admitted is marked unobserved in the chunk index (padflow.tables: no label, so the
policy's loss leaves it out); with none admitted the index is empty. An IDM that presses nothing
scores F1 0, and what training on such labels cost the policy is measured in docs/idm.md. The
tables keep every reading, so the score against truth covers all controls, and the report says
which controls were withheld and why.

Why a stage after idm_train and not an input of the gate: the IDM trains on the gate's accepted
overlay chunks, so a gate that also read pseudo-labels would depend on its own output
(docs/idm.md). When corpus ground truth exists, the pseudo-labels and the IDM on idm_train's
held-out overlay videos are scored (models.idm.evaluation; `padflow score-idm` prints the same).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import Field

from models.idm import decode_video, label_video, lit_box, load_idm
from models.idm.evaluation import REPORT_FILE, corpus_truth, score_heldout_overlay, score_pseudo_labels
from models.idm.processor import button_confidence
from models.idm.scoring import SCORES_FILE
from padflow.actions import ACTION_NAMES, AXES, BUTTON_SLICE, BUTTONS
from padflow.chunking import ChunkRule, MotionCache, TableInput, chunk_rule, chunk_table, covered_frames
from padflow.config import config, from_mapping
from padflow.expectations import TableValidator, table_reasons
from padflow.ingest.report import accepted_videos, read_report
from padflow.io import file_sha256, replaced_dir, write_json
from padflow.stages import StageResult
from padflow.tables import (
    CHUNK_INDEX_SCHEMA, IDM_LABELS, actions_to_table, observed_mask, read_action_table, table_observed, write_action_table, write_chunk_index)

INDEX_FILE = "chunks.parquet"
# extract's statuses of the videos it read no table from, which this stage labels; why no skin was fitted, per status
LABELLED_STATUSES = ("no_overlay", "unknown_skin")
NOTES = {"no_overlay": "labelled by the IDM: the video has no overlay to localize",
         "unknown_skin": "labelled by the IDM with the overlay's box masked: no library skin explains the overlay"}
Share = Annotated[float, Field(ge=0.0, le=1.0)]


@config
class PseudoLabelConfig:
    min_confidence: Annotated[Share, Field(description=(
        "IDM confidence (least sure button's max(p, 1 - p), in [0.5, 1]) below which a frame is low-confidence"))] = 0.6
    max_low_confidence_share: Annotated[Share, Field(description=(
        "a pseudo-labelled table with a larger share of low-confidence frames is quarantined (the IDM-confidence expectation)"))] = 0.5
    max_button_hold_s: Annotated[float, Field(gt=0.0, description="seconds; a longer unchanged hold looks stuck (the gate's expectation)")] = 15.0
    max_frame_count_error: Annotated[int, Field(ge=0, description="frames; |table rows - ingested frames| allowed")] = 2
    timing_tolerance_s: Annotated[float, Field(ge=0.0, description="seconds; |t - frame/fps| allowed per row")] = 0.002
    game_area_threshold: Annotated[int, Field(ge=0, le=255, description=(
        "grey level above which a pixel belongs to the game picture: the gate's, so crops match the IDM's training"))] = 16
    min_idm_button_f1: Annotated[Share | None, Field(description=(
        "button F1 (pooled) the IDM must reach on idm_train's validation videos, against their overlay labels, for "
        "its button readings to train the policy; an IDM that never presses scores 0; null: no bar"))] = 0.2
    min_idm_stick_r2: Annotated[float | None, Field(le=1.0, description=(
        "R² within video (around each video's own mean stick) a stick axis must reach on the same videos for the "
        "IDM's readings of that axis to train the policy; knowing only the game scores 0; null: no bar"))] = 0.1
    batch_size: Annotated[int, Field(ge=1, description="windows per IDM forward pass")] = 32
    idm_dir: Annotated[str, Field(description="the IDM idm_train exported")] = "data/idm"
    index: Annotated[str, Field(description="the gate's chunk index (held-out overlay videos' boxes, for scoring)")] = "data/gate/chunks.parquet"
    extract_dir: Annotated[str, Field(description=(
        "extract's outputs: which videos it read no table from (no overlay; an overlay of an unknown skin, and its box)"))] = "data/extract"
    ingest_dir: Annotated[str, Field(description="the ingested videos")] = "data/ingest"
    truth_dir: Annotated[str, Field(description="corpus ground truth; scored when present")] = "data/corpus_truth"
    out_dir: Annotated[str, Field(description="pseudo-label tables, records and the report")] = "data/pseudo_label"

    @property
    def min_inliers(self) -> None:
        """The suite's localization bar: nothing is localized in an overlay-free video (not checked)."""
        return None


def pseudo_label(cfg: PseudoLabelConfig, root: Path, chunking: ChunkRule) -> dict[str, Any]:
    """Label, validate, chunk (by the gate's `chunking` rule) and (with truth) score every video extract read no table from
    (LABELLED_STATUSES); returns the report."""
    idm_dir = root / cfg.idm_dir
    model = load_idm(idm_dir)
    weights_sha = file_sha256(idm_dir / "idm.safetensors")
    ingest = read_report(root / cfg.ingest_dir)
    fps = float(ingest["config"]["fps"])
    ingested = accepted_videos(ingest)
    extract_rows = json.loads((root / cfg.extract_dir / "extract_report.json").read_text())["videos"]
    targets = [r for r in extract_rows if r["status"] in LABELLED_STATUSES]
    validator = TableValidator(cfg)
    admission = idm_admission(cfg, idm_dir)
    admitted = observed_mask(admission["withheld"])  # (21,) the controls whose IDM readings may train the policy
    rows, chunk_rows = [], []
    motions = MotionCache(chunking)
    with replaced_dir(root / cfg.out_dir) as work:
        for row in targets:
            video_id = row["video_id"]
            video_path = root / cfg.ingest_dir / ingested[video_id].get("output", f"videos/{video_id}.mp4")
            overlay_box = unread_overlay_box(row)
            game_box = lit_box(video_path, cfg.game_area_threshold, overlay_box)
            frames = decode_video(video_path, game_box, overlay_box, model.config.image_size)
            actions, confidence = label_video(model, frames, cfg.batch_size)
            # What may train is what is checked: the suite sees the admitted readings, with the confidence of the
            # least sure admitted button (1 when no button is admitted: the IDM states no confidence for sticks).
            admitted_confidence = button_confidence(actions[:, BUTTON_SLICE][:, admitted[BUTTON_SLICE]])
            actions[:, BUTTON_SLICE] = actions[:, BUTTON_SLICE] > 0.5  # press probabilities → presses
            table_path = write_action_table(work / f"{video_id}.parquet", actions, fps, confidence)
            write_json(work / f"{video_id}.json", {
                "video_id": video_id, "source": "idm", "idm_sha256": weights_sha, "game_box": list(game_box),
                "extract_status": row["status"], "inliers": None, "inliers_note": NOTES[row["status"]],
                "box": None if overlay_box is None else list(overlay_box), "frames": len(actions),
                "mean_confidence": round(float(confidence.mean()), 4),
            })
            table = read_action_table(table_path)
            checked = actions_to_table(actions, fps, admitted_confidence, admission["withheld"])
            reasons, failed = table_reasons(validator, video_id, checked, fps, int(ingested[video_id].get("frames_out") or len(actions)), None)
            kept = []
            if not reasons and admitted.any():
                item = TableInput(video_id=video_id, table_path=table_path, video_path=video_path, fps=fps,
                                  frames_ingested=len(actions), inliers=None, overlay_box=overlay_box,
                                  game=str(ingested[video_id].get("game") or "unknown"), label_source=IDM_LABELS)
                # The index names the table where it will be once the stage succeeds (out_dir, not this work folder).
                index_rows, chunks = chunk_table(item, table, table_observed(table) & admitted, chunking, motions, root,
                                                 root / cfg.out_dir / table_path.name)
                chunk_rows += index_rows
                kept = [c.start for c in chunks if c.verdict == "kept"]
            rows.append({"video_id": video_id, "source": row.get("source"), "extract_status": row["status"],
                         "status": "quarantined" if reasons else "labelled",
                         "reasons": reasons, "failed_expectations": failed, "frames": len(actions),
                         "mean_confidence": round(float(confidence.mean()), 4), "chunks_kept": len(kept),
                         "minutes_kept": round(covered_frames(kept, chunking.chunk_size) / fps / 60, 4)})
        write_chunk_index(pd.DataFrame(chunk_rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA]), work / INDEX_FILE)
        report: dict[str, Any] = {"videos": rows, "config": asdict(cfg), "idm_sha256": weights_sha, "idm_admission": admission}
        write_json(work / REPORT_FILE, report)
        if (root / cfg.truth_dir).is_dir():
            report["score"] = score_idm(cfg, root, work)
            write_json(work / REPORT_FILE, report)
    return report


def unread_overlay_box(row: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    """The overlay box (x0, y0, x1, y1, frame px) of an extract report row to mask: an unknown_skin video's, None for no_overlay.

    ValueError names the video where an unknown_skin row has no box (an extract report older than the box, or edited)."""
    if row["status"] != "unknown_skin":
        return None
    box = row.get("box")
    if not box or len(box) != 4:
        raise ValueError(f"extract report: video {row['video_id']} is unknown_skin but records no overlay box ({box!r}); "
                         "rerun extract")
    return tuple(int(v) for v in box)


def idm_admission(cfg: PseudoLabelConfig, idm_dir: Path) -> dict[str, Any]:
    """Which controls' IDM readings may train the policy, by idm_train's validation figures (scores.json) against the bars.

    Returns {"admitted": [names], "withheld": [names], "reasons": [why, per withheld group], "validation": figures}.
    """
    path = idm_dir / SCORES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: idm_train's scores are missing; rerun idm_train")
    val = json.loads(path.read_text()).get("val") or {}
    where = "" if val else " (idm_train held out no validation video)"
    f1, r2 = val.get("button_f1"), val.get("stick_r2_within_axes") or {}
    withheld, reasons = [], []
    if cfg.min_idm_button_f1 is not None and (f1 is None or f1 < cfg.min_idm_button_f1):
        withheld += list(BUTTONS)
        reasons.append(f"buttons: validation F1 {'unmeasured' if f1 is None else f1} below {cfg.min_idm_button_f1}{where}")
    for axis in AXES:
        value = r2.get(axis)
        if cfg.min_idm_stick_r2 is not None and (value is None or value < cfg.min_idm_stick_r2):
            withheld.append(axis)
            reasons.append(f"{axis}: validation R² within video {'unmeasured' if value is None else value} below {cfg.min_idm_stick_r2}{where}")
    return {"admitted": [n for n in ACTION_NAMES if n not in withheld], "withheld": withheld, "reasons": reasons,
            "validation": {"button_f1": f1, "stick_r2_within_axes": r2}}


def score_idm(cfg: PseudoLabelConfig, root: Path, pseudo_dir: Path | None = None) -> dict[str, Any]:
    """Pseudo-labels vs truth, and the IDM on idm_train's held-out overlay videos vs truth and overlay labels."""
    truth = corpus_truth(root / cfg.truth_dir, root / cfg.ingest_dir)
    model = load_idm(root / cfg.idm_dir)
    return {"pseudo_labels": score_pseudo_labels(pseudo_dir or root / cfg.out_dir, truth),
            "heldout_overlay": score_heldout_overlay(model, root, root / cfg.index, root / cfg.idm_dir / "split.json", truth)}


def headline(score: Mapping[str, Any]) -> dict[str, float]:
    """The figures metrics/pseudo_label.json carries (None-valued ones left out)."""
    groups = {"pseudo": score["pseudo_labels"]["all"], "heldout_truth": score["heldout_overlay"]["vs_truth"]["all"],
              "heldout_overlay": score["heldout_overlay"]["vs_overlay_labels"]["all"]}
    out: dict[str, float] = {}
    for prefix, s in groups.items():
        for key in ("button_accuracy", "button_f1", "stick_r2", "baseline_button_accuracy"):
            if s.get(key) is not None:
                out[f"{prefix}_{key}"] = s[key]
    return out


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: pseudo-label extract's no_overlay and unknown_skin videos with data/idm into data/pseudo_label."""
    cfg = from_mapping(PseudoLabelConfig, params.get("pseudo_label"), "pseudo_label")
    # The gate's chunking rule (chunk size, density, motion): pseudo-labelled chunks are cut as overlay ones are.
    chunking = chunk_rule(params.get("gate"))
    report = pseudo_label(cfg, root, chunking)
    rows = report["videos"]
    metrics: dict[str, float] = {"videos": len(rows), "labelled": sum(r["status"] == "labelled" for r in rows),
                                 "quarantined": sum(r["status"] == "quarantined" for r in rows),
                                 "frames": sum(r["frames"] for r in rows),
                                 "controls_admitted": len(report["idm_admission"]["admitted"]),
                                 "chunks_kept": sum(r["chunks_kept"] for r in rows),
                                 "minutes_kept": round(sum(r["minutes_kept"] for r in rows), 4)}
    if "score" in report:
        metrics.update(headline(report["score"]))
    out_dir = root / cfg.out_dir
    return StageResult(params={"pseudo_label": asdict(cfg)}, metrics=metrics, artifacts={"pseudo_label": out_dir / REPORT_FILE})
