"""Score extraction against the corpus ground truth: how well were overlays found and read.

Videos are joined through the ingest report (input `data/raw/<name>.mp4` → `video_id`) to the
corpus sidecars (`<truth_dir>/<name>.json` + `.parquet`) and to extract's outputs
(`<extract_dir>/<video_id>.parquet` + `.json`, and `extract_report.json`).

Definitions:
    button accuracy        mean over frames and the 17 buttons of (extracted == shown), NitroGen's
                           "button frame accuracy"; frames of overlay videos that were extracted
    all-buttons rate       share of those frames where all (observed) buttons are right
    unobserved controls    controls an extracted table marks unobserved (its skin does not draw them,
                           padflow.tables) are no reading: they are not scored, neither as hits nor as
                           misses, and the report counts them (`unobserved_frames`: frames per
                           control; each video's row lists its `unobserved`)
    stick R²               per axis, 1 - SS_res / SS_tot pooled over every scored frame of the group
                           (pooled, because a stick that never moves in one video has no per-video
                           R²); `stick_r2` is the mean of the 4 axes; None when no axis varies
    localization rate      overlay videos whose extracted box has IoU >= 0.8 with the drawn box
                           (a video that failed, was judged overlay-free or unknown_skin counts as a miss)
    unknown skin           overlay videos recorded unknown_skin (an overlay no library skin explains:
                           a box and a reason, no table), `unknown_skin_videos`
    false-overlay rate     no-overlay videos given an overlay anyway (found, or recorded unknown_skin)
    action coverage        share of the overlay videos' frames that have an extracted action

Splits: "all", and "heldout" (overlay videos whose skin the parser never trained on). No-overlay
videos have no skin, so the false-overlay rate is computed on all of them in both splits.
Breakdowns bin overlay videos by opacity, overlay width (fraction of frame width), x264 crf and
overlay lag; each bin reports the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from padflow.actions import ACTION_DIM, ACTION_NAMES, AXES, AXIS_INDEX, AXIS_SLICE, BUTTON_INDEX, BUTTON_SLICE, BUTTONS
from padflow.ingest.report import accepted_videos, read_report
from padflow.overlay.crops import box_iou
from padflow.tables import read_action_table, table_observed, table_to_actions, unobserved_names

Split = Literal["all", "heldout"]
SPLITS: tuple[str, ...] = ("all", "heldout")
LOCALIZED_IOU = 0.8  # a box with at least this IoU against the drawn one counts as localized
# Bin edges: a value v falls in [edges[i], edges[i+1]); the last bin includes its upper edge.
# Integer-valued settings (crf, lag) use integer edges and their bins are labelled by the values held.
OPACITY_BINS: tuple[float, ...] = (0.4, 0.6, 0.8, 1.0)
SCALE_BINS: tuple[float, ...] = (0.08, 0.12, 0.18, 0.24, 0.30)  # overlay width, fraction of frame width
CRF_BINS: tuple[float, ...] = (0, 24, 27, 52)  # integer bins: 0-23, 24-26, 27-51
LAG_BINS: tuple[float, ...] = (0, 1, 2, 3)  # frames; one bin per lag
EXTRACT_REPORT = "extract_report.json"
INGEST_DIR = "data/ingest"


@dataclass
class _Tally:
    """Sums that aggregate over videos (so a group's numbers are pooled, not averaged per video)."""

    videos: int = 0
    localized: int = 0
    skin_right: int = 0
    overlay_frames: int = 0
    frames: int = 0
    button_right: np.ndarray = field(default_factory=lambda: np.zeros(len(BUTTONS), np.int64))
    button_n: np.ndarray = field(default_factory=lambda: np.zeros(len(BUTTONS), np.int64))  # frames each button was scored
    unobserved_frames: np.ndarray = field(default_factory=lambda: np.zeros(ACTION_DIM, np.int64))  # frames each control had no reading
    all_right: int = 0
    n_axis: np.ndarray = field(default_factory=lambda: np.zeros(len(AXES), np.int64))
    sum_y: np.ndarray = field(default_factory=lambda: np.zeros(len(AXES)))
    sum_y2: np.ndarray = field(default_factory=lambda: np.zeros(len(AXES)))
    sum_res2: np.ndarray = field(default_factory=lambda: np.zeros(len(AXES)))

    def add(self, other: _Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def summary(self) -> dict[str, Any]:
        r2 = self.axis_r2()
        valid = [v for v in r2.values() if v is not None]
        per_button = np.where(self.button_n > 0, self.button_right / np.maximum(self.button_n, 1), np.nan)
        return {
            "videos": self.videos,
            "frames_scored": self.frames,
            "localization_rate": _ratio(self.localized, self.videos),
            "skin_id_accuracy": _ratio(self.skin_right, self.localized),
            "action_coverage": _ratio(self.frames, self.overlay_frames),
            "button_accuracy": _ratio(int(self.button_right.sum()), int(self.button_n.sum())),
            "button_all_correct_rate": _ratio(self.all_right, self.frames),
            "stick_r2": round(float(np.mean(valid)), 4) if valid else None,
            "stick_r2_axes": r2,
            "per_button": {b: (None if np.isnan(v) else round(float(v), 4)) for b, v in zip(BUTTONS, per_button)},
            "unobserved_frames": {name: int(n) for name, n in zip(ACTION_NAMES, self.unobserved_frames) if n},
        }

    def axis_r2(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for i, axis in enumerate(AXES):
            n = self.n_axis[i]
            ss_tot = self.sum_y2[i] - self.sum_y[i] ** 2 / n if n else 0.0
            out[axis] = round(float(1.0 - self.sum_res2[i] / ss_tot), 4) if ss_tot > 1e-9 else None
        return out


@dataclass(frozen=True)
class VideoScore:
    """One corpus video joined with its extraction."""

    name: str  # corpus name (stem of data/raw/<name>.mp4)
    video_id: str | None  # None when ingest did not accept it
    has_overlay: bool
    held_out: bool
    family: str | None
    opacity: float | None
    overlay_width: float | None  # fraction of frame width
    crf: int
    lag: int | None
    status: str  # extract's status: extracted | no_overlay | unknown_skin | failed | missing
    found: bool  # extraction gave it an overlay
    iou: float | None  # of the extracted box against the drawn one (overlay videos)
    skin_right: bool
    tally: _Tally = field(compare=False, repr=False)
    unobserved: tuple[str, ...] = ()  # controls the extracted table has no reading of (not scored)

    def row(self) -> dict[str, Any]:
        s = self.tally.summary()
        return {
            "name": self.name, "video_id": self.video_id, "has_overlay": self.has_overlay, "held_out": self.held_out,
            "family": self.family, "status": self.status, "found": self.found,
            "iou": None if self.iou is None else round(self.iou, 4),
            "button_accuracy": s["button_accuracy"], "stick_r2": s["stick_r2"], "frames_scored": s["frames_scored"],
            "unobserved": list(self.unobserved),
        }  # fmt: skip


def action_tally(extracted: np.ndarray, truth: np.ndarray, observed: np.ndarray | None = None) -> _Tally:
    """Sums for button accuracy and stick R² of (T, 21) extracted vs shown actions, frame by frame.

    `observed` (21,) bool is the extracted table's mask (None: all observed); unobserved controls are counted, not scored.
    """
    if extracted.shape != truth.shape:
        raise ValueError(f"extracted actions {extracted.shape} and truth {truth.shape} differ in shape")
    seen = np.ones(ACTION_DIM, bool) if observed is None else np.asarray(observed, bool)
    buttons, axes = seen[BUTTON_SLICE], seen[AXIS_SLICE]
    right = (extracted[:, BUTTON_SLICE] > 0.5) == (truth[:, BUTTON_SLICE] > 0.5)
    y, yhat = truth[:, AXIS_SLICE].astype(np.float64), extracted[:, AXIS_SLICE].astype(np.float64)
    n = len(truth)
    t = _Tally(frames=n, button_right=right.sum(0) * buttons, button_n=np.where(buttons, n, 0),
               all_right=int((right | ~buttons).all(1).sum()))  # fmt: skip
    t.unobserved_frames = np.where(seen, 0, n).astype(np.int64)
    t.n_axis = np.where(axes, n, 0).astype(np.int64)
    t.sum_y, t.sum_y2, t.sum_res2 = y.sum(0) * axes, (y**2).sum(0) * axes, ((y - yhat) ** 2).sum(0) * axes
    return t


def reading_scores(read: np.ndarray, shown: np.ndarray, observed: frozenset[str]) -> dict[str, Any]:
    """One clip's reading against the actions shown, over the controls its skin draws (the benches' per-clip row).

    button_f1: "pressed" pooled over frames and observed buttons; button_accuracy and, for scale,
    the accuracy of reading nothing pressed; stick_r2: per observed axis pooled over frames, mean
    over the axes that moved. (T, 21) arrays; a length mismatch scores the common frames.
    """
    n = min(len(read), len(shown))
    read, shown = read[:n], shown[:n]
    cols = [BUTTON_INDEX[b] for b in BUTTONS if b in observed]
    r, s = read[:, cols] > 0.5, shown[:, cols] > 0.5
    tp, fp, fn = int((r & s).sum()), int((r & ~s).sum()), int((~r & s).sum())
    out: dict[str, Any] = {
        "button_f1": round(2 * tp / (2 * tp + fp + fn), 3) if tp + fp + fn else None,
        "button_accuracy": round(float((r == s).mean()), 3),
        "nothing_pressed_accuracy": round(float((~s).mean()), 3),
    }
    r2 = []
    for axis in (a for a in AXES if a in observed):
        y, p = shown[:, AXIS_INDEX[axis]], read[:, AXIS_INDEX[axis]]
        ss_tot = float(((y - y.mean()) ** 2).sum())
        if ss_tot > 1e-9:
            r2.append(1.0 - float(((y - p) ** 2).sum()) / ss_tot)
    out["stick_r2"] = round(float(np.mean(r2)), 3) if r2 else None
    return out


def score_video(
    name: str,
    truth: Mapping[str, Any],
    truth_actions: np.ndarray,
    video_id: str | None,
    report_row: Mapping[str, Any] | None,
    record: Mapping[str, Any] | None,
    extracted: np.ndarray | None,
    observed: np.ndarray | None = None,
) -> VideoScore:
    """Join one corpus video's truth with what extraction made of it; `observed` is the extracted table's mask."""
    plan = truth["plan"]
    has_overlay = plan.get("skin_id") is not None
    status = report_row["status"] if report_row else "missing"
    localization = (record or {}).get("localization") or {}
    found = bool(localization.get("found"))
    iou = None
    if has_overlay:
        iou = box_iou(localization["box"], truth["overlay_box"]) if found and localization.get("box") else 0.0
    tally = _Tally(videos=1)
    if has_overlay:
        tally.overlay_frames = len(truth_actions)
        tally.localized = int(iou is not None and iou >= LOCALIZED_IOU)
        tally.skin_right = int(tally.localized and localization.get("skin_id") == plan["skin_id"])
        if extracted is not None:
            # Ingest keeps 30 fps videos frame for frame; score the frames both sides have.
            n = min(len(extracted), len(truth_actions))
            tally.add(action_tally(extracted[:n], truth_actions[:n], observed))
    return VideoScore(
        name=name,
        video_id=video_id,
        has_overlay=has_overlay,
        held_out=bool(plan.get("held_out")),
        family=truth.get("family"),
        opacity=plan.get("opacity") if has_overlay else None,
        overlay_width=plan.get("overlay_width") if has_overlay else None,
        crf=int(plan["crf"]),
        lag=plan.get("lag") if has_overlay else None,
        status=status,
        found=found,
        iou=iou,
        skin_right=bool(tally.skin_right),
        tally=tally,
        unobserved=() if observed is None or extracted is None else unobserved_names(observed),
    )


def collect_scores(root: Path, extract_dir: Path, truth_dir: Path, ingest_dir: Path | None = None) -> list[VideoScore]:
    """Every corpus video in `truth_dir`, joined through the ingest report with extract's outputs."""
    ingest_dir = ingest_dir or root / INGEST_DIR
    if not truth_dir.is_dir():
        raise ValueError(f"{truth_dir}: no corpus ground truth to score against (run the corpus stage)")
    accepted = accepted_videos(read_report(ingest_dir))
    # Ingest reports paths relative to its input root; the corpus names videos by file stem.
    id_of = {Path(r["path"]).stem: video_id for video_id, r in accepted.items()}
    report_path = extract_dir / EXTRACT_REPORT
    try:
        rows = {r["video_id"]: r for r in json.loads(report_path.read_text())["videos"]}
    except FileNotFoundError:
        raise ValueError(f"{report_path}: extract report not found (run the extract stage)") from None
    scores = []
    for truth_json in sorted(truth_dir.glob("*.json")):
        table = truth_json.with_suffix(".parquet")
        if not table.is_file():
            continue  # manifests and other sidecars are not videos
        truth = json.loads(truth_json.read_text())
        name = truth_json.stem
        video_id = id_of.get(name)
        row = rows.get(video_id) if video_id else None
        record = extracted = observed = None
        if video_id and (extract_dir / f"{video_id}.json").is_file():
            record = json.loads((extract_dir / f"{video_id}.json").read_text())
        if video_id and (extract_dir / f"{video_id}.parquet").is_file():
            table_read = read_action_table(extract_dir / f"{video_id}.parquet")
            extracted, observed = table_to_actions(table_read), table_observed(table_read)
        truth_actions = table_to_actions(read_action_table(table))
        scores.append(score_video(name, truth, truth_actions, video_id, row, record, extracted, observed))
    if not scores:
        raise ValueError(f"{truth_dir}: no corpus videos (<name>.json + <name>.parquet) found")
    return scores


def summarize(scores: list[VideoScore], split: Split = "all") -> dict[str, Any]:
    """The scoring report of one split: headline numbers, per button, per family, and binned breakdowns."""
    if split not in SPLITS:
        raise ValueError(f"split: {split!r} is not one of {', '.join(SPLITS)}")
    overlay = [s for s in scores if s.has_overlay and (split == "all" or s.held_out)]
    plain = [s for s in scores if not s.has_overlay]
    headline = _group(overlay).summary()
    false_overlays = sum(s.found or s.status == "unknown_skin" for s in plain)
    return {
        "split": split,
        "overlay_videos": len(overlay),
        "no_overlay_videos": len(plain),
        **{k: v for k, v in headline.items() if k != "videos"},
        "unknown_skin_videos": sum(s.status == "unknown_skin" for s in overlay),
        "false_overlay_rate": _ratio(false_overlays, len(plain)),
        "false_overlays": false_overlays,
        "per_family": _breakdown(overlay, lambda s: s.family or "none"),
        "by_opacity": _binned(overlay, lambda s: s.opacity, OPACITY_BINS),
        "by_scale": _binned(overlay, lambda s: s.overlay_width, SCALE_BINS),
        "by_crf": _binned(overlay, lambda s: s.crf, CRF_BINS),
        "by_lag": _binned(overlay, lambda s: s.lag, LAG_BINS),
        "videos": [s.row() for s in scores if s.has_overlay and (split == "all" or s.held_out)] + [s.row() for s in plain],
    }


def score_extraction(root: Path, extract_dir: Path, truth_dir: Path, split: Split = "all", ingest_dir: Path | None = None) -> dict[str, Any]:
    return summarize(collect_scores(root, extract_dir, truth_dir, ingest_dir), split)


def headline_metrics(report: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """The flat numbers of a report for DVC/MLflow metrics (None-valued ones left out)."""
    keys = ("button_accuracy", "button_all_correct_rate", "stick_r2", "localization_rate", "false_overlay_rate", "skin_id_accuracy", "action_coverage")
    return {f"{prefix}{k}": report[k] for k in keys if report.get(k) is not None}


def _group(scores: Iterable[VideoScore]) -> _Tally:
    total = _Tally()
    for s in scores:
        total.add(s.tally)
    return total


def _compact(tally: _Tally) -> dict[str, Any]:
    s = tally.summary()
    keys = ("videos", "frames_scored", "localization_rate", "button_accuracy", "button_all_correct_rate", "stick_r2")
    return {k: s[k] for k in keys}


def _breakdown(scores: list[VideoScore], key: Callable[[VideoScore], str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[VideoScore]] = {}
    for s in scores:
        groups.setdefault(key(s), []).append(s)
    return {k: _compact(_group(v)) for k, v in sorted(groups.items())}


def _binned(scores: list[VideoScore], value: Callable[[VideoScore], float | None], edges: tuple[float, ...]) -> dict[str, dict[str, Any]]:
    out = {}
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        last = i == len(edges) - 2
        inside = [s for s in scores if (v := value(s)) is not None and lo <= v and (v <= hi if last else v < hi)]
        out[_bin_label(lo, hi, edges)] = _compact(_group(inside))
    return out


def _bin_label(lo: float, hi: float, edges: tuple[float, ...]) -> str:
    if all(float(e).is_integer() for e in edges):  # integer-valued (crf, lag): name the values each bin holds
        return f"{int(lo)}" if hi - lo == 1 else f"{int(lo)}-{int(hi) - 1}"
    return f"{lo:.2f}-{hi:.2f}"


def _ratio(num: float, den: float) -> float | None:
    return round(float(num) / den, 4) if den else None
