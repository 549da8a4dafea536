"""gate: validate every action table, quarantine the bad ones, cut the rest into training chunks.

Each action table is checked by a Great Expectations suite (schema, dtypes, contiguous
frames, timing, value ranges, confidence, stuck buttons, localization strength). A table that
fails is quarantined with the names of the failed expectations and a reason for each; it never
stops the stage. Accepted tables are cut into `chunk_size`-step chunks; a chunk is dropped when
fewer than `min_action_density` of its timesteps carry any action (so the policy does not learn
to do nothing) or when the game picture barely changes (menus, loading screens). If too few
hours survive for the batch to look sane, the stage fails with a clear message. Chunks start
every `chunk_stride` frames: with a stride below `chunk_size` they overlap (NitroGen trains on
every window), and "hours kept" counts each frame of the kept chunks once.

Inputs: every folder in `sources` holds action tables `<table_id>.parquet`, a record
`<table_id>.json` beside each (`inliers`, `box`; optionally `frame_offset`, `expected_frames`,
`inliers_note`) and a report listing them: `extract_report.json` (the extract stage: `videos`,
one whole-video table each, status `extracted`) or `import_report.json` (padflow.nitrogen: `tables`,
one table per imported label chunk, status `imported`, with `table_id`, and `ingest_dir` naming
the ingest folder of its videos). A table covers frames [frame_offset, frame_offset +
expected_frames) of its normalized video; its own `frame` column counts from 0. A record with
`inliers: null` (imported labels were never localized by padflow) gets no weak_localization
expectation; the gate report says so in the table's `notes`.

Outputs (out_dir):
    chunks.parquet       the accepted-chunk index (CHUNK_INDEX_SCHEMA)
    gate_report.json     per video: verdict, reasons, failed expectations, hours; batch totals
    density_hist.png     action density of every chunk of accepted tables, with the threshold
    data_docs/           Great Expectations Data Docs (HTML; not bit-stable: they carry run times)
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from padflow.actions import AXIS_SLICE, BUTTON_SLICE, NITROGEN_BUTTON_COLUMNS
from padflow.config import from_mapping
from padflow.io import atomic_path, save_figure, write_json
from padflow.stages import StageResult
from padflow.tables import ACTION_TABLE_SCHEMA, read_action_table, table_to_actions
from tasks.ingest import accepted_videos, read_report

SUITE_NAME = "action_table"
DEFAULT_MIN_INLIERS = 20  # NitroGen's localization bar, when params.yaml names none
AXIS_COLUMNS = ("left_x", "left_y", "right_x", "right_y")
SECONDS_PER_HOUR = 3600.0
TABLE_REPORTS = ("extract_report.json", "import_report.json")  # a source folder's listing of its tables
USABLE_STATUSES = ("extracted", "imported")  # listed tables with these statuses are gated; others are skipped

# The accepted-chunk index: one row per training chunk.
CHUNK_INDEX_SCHEMA = pa.schema(
    [
        pa.field("video_id", pa.string()),
        pa.field("video_path", pa.string()),  # normalized video, relative to the project root
        pa.field("table_path", pa.string()),  # its action table, relative to the project root
        pa.field("start_frame", pa.int64()),  # first frame of the chunk
        pa.field("frames", pa.int32()),  # chunk length, timesteps
        pa.field("fps", pa.float32()),
        pa.field("overlay_box", pa.list_(pa.int32(), 4)),  # (x0, y0, x1, y1) to mask in training
        pa.field("game_box", pa.list_(pa.int32(), 4)),  # (x0, y0, x1, y1) of the game picture
        pa.field("game", pa.string()),  # title when the source says, else "unknown"
        pa.field("density", pa.float32()),  # share of timesteps with any action
        pa.field("motion", pa.float32()),  # largest grey-level change between frames in the chunk
    ]
)


@dataclass(frozen=True)
class GateConfig:
    chunk_size: int = 16  # timesteps per chunk: the policy's action horizon
    chunk_stride: int = 16  # frames between consecutive chunk starts; < chunk_size gives overlapping chunks
    min_action_density: float = 0.5  # keep a chunk when at least this share of timesteps act (NitroGen: 50%)
    stick_deadzone: float = 0.05  # |axis| at or below this counts as a centred stick
    min_confidence: float = 0.5  # parser confidence below this makes a frame "low confidence"
    max_low_confidence_share: float = 0.2  # a table with more low-confidence frames is quarantined
    max_button_hold_s: float = 60.0  # a button held unchanged longer than this looks like a stuck parse
    min_inliers: int | None = None  # localization inliers a table needs; None = extract.localize.min_inliers
    max_frame_count_error: int = 2  # |table rows - ingested frames| allowed (decoder edge frames)
    timing_tolerance_s: float = 0.002  # |t - frame/fps| allowed per row, seconds
    static_threshold: float = 24.0  # a chunk where no pixel changes more than this (grey levels) is idle
    motion_size: tuple[int, int] = (160, 90)  # (w, h) frames are scaled to when measuring motion
    game_area_threshold: int = 16  # grey level above which a pixel belongs to the game picture
    min_kept_share: float = 0.2  # batch expectation: fail the stage when fewer hours survive
    sources: tuple[str, ...] = ("data/extract",)  # folders of action tables, each with its report (see above)
    ingest_dir: str = "data/ingest"  # ingest folder of sources whose report names none
    out_dir: str = "data/gate"

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if not 1 <= self.chunk_stride <= self.chunk_size:
            raise ValueError(f"chunk_stride must be in [1, chunk_size={self.chunk_size}] (a larger stride skips frames), got {self.chunk_stride}")
        for name in ("min_action_density", "max_low_confidence_share", "min_kept_share", "min_confidence"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_button_hold_s <= 0 or self.static_threshold < 0 or self.stick_deadzone < 0:
            raise ValueError("max_button_hold_s must be > 0, static_threshold and stick_deadzone >= 0")
        if not self.sources:
            raise ValueError("sources must name at least one folder of action tables")


@dataclass(frozen=True)
class TableInput:
    """One action table as the gate sees it: a whole extracted video, or a span of one (imported)."""

    video_id: str
    table_path: Path
    video_path: Path
    fps: float
    frames_ingested: int
    inliers: int | None  # None: the table's source never localized an overlay (weak_localization not checked)
    overlay_box: tuple[int, int, int, int]
    game: str = "unknown"
    table_id: str = ""  # the table's file stem and report key; "" = video_id (one table per video)
    frame_offset: int = 0  # the table's row 0 is this frame of the normalized video
    expected_frames: int | None = None  # rows the table should have; None = the whole video
    notes: tuple[str, ...] = ()  # what the gate did not check for this table, and why

    @property
    def key(self) -> str:
        return self.table_id or self.video_id

    @property
    def rows_expected(self) -> int:
        return self.frames_ingested if self.expected_frames is None else self.expected_frames


@dataclass(frozen=True)
class Verdict:
    video_id: str
    status: str  # accepted | quarantined | skipped
    reasons: tuple[str, ...] = ()  # quarantine reasons (one per failed expectation), or why skipped
    failed_expectations: tuple[str, ...] = ()  # "expect_...(column)" names
    hours_in: float = 0.0
    hours_kept: float = 0.0
    chunks_kept: int = 0
    chunks_dropped_density: int = 0
    chunks_dropped_static: int = 0
    table_id: str = ""  # the table judged (imported labels: one table per chunk of a video)
    notes: tuple[str, ...] = ()  # expectations not applied to this table, with the reason


@dataclass(frozen=True)
class GateReport:
    verdicts: tuple[Verdict, ...]
    config: Mapping[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        hours_in = sum(v.hours_in for v in self.verdicts)
        hours_kept = sum(v.hours_kept for v in self.verdicts)
        status = Counter(v.status for v in self.verdicts)
        reasons = Counter(r for v in self.verdicts if v.status == "quarantined" for r in v.reasons)
        totals = {
            "tables": len(self.verdicts),
            "accepted": status["accepted"],
            "quarantined": status["quarantined"],
            "skipped": status["skipped"],
            "hours_in": round(hours_in, 5),
            "hours_kept": round(hours_kept, 5),
            "pct_kept": round(100 * hours_kept / hours_in, 2) if hours_in else 0.0,
            "chunks_kept": sum(v.chunks_kept for v in self.verdicts),
            "chunks_dropped_density": sum(v.chunks_dropped_density for v in self.verdicts),
            "chunks_dropped_static": sum(v.chunks_dropped_static for v in self.verdicts),
        }
        totals.update({f"quarantined_{reason}": n for reason, n in sorted(reasons.items())})
        return totals


class GateFailed(RuntimeError):
    """The batch as a whole looks broken; raised after the report is written."""


def table_frame(table: pa.Table, fps: float, inliers: int | None, min_confidence: float) -> pd.DataFrame:
    """An action table as a flat DataFrame with the derived columns the suite checks.

    Sticks are split into left_x ... right_y; `t_error` = t - frame/fps; `low_confidence`;
    `low_confidence` = confidence < min_confidence (as 0/1); `hold_s` = how long the
    longest-held button has been held at each frame; `inliers` repeats the
    localization's inlier count on every row so a row-wise suite can check it (no such column
    when `inliers` is None).
    """
    df = table.to_pandas()
    for column, (x, y) in (("j_left", AXIS_COLUMNS[:2]), ("j_right", AXIS_COLUMNS[2:])):
        if column in df:
            xy = np.array([v if v is not None and len(v) == 2 else (np.nan, np.nan) for v in df[column]], np.float32)
            xy = xy.reshape(-1, 2)
            df[x], df[y] = xy[:, 0], xy[:, 1]
            df = df.drop(columns=column)
    if "frame" in df and "t" in df:
        df["t_error"] = df["t"].astype(float) - df["frame"].astype(float) / fps
    if "confidence" in df:
        df["low_confidence"] = (df["confidence"].astype(float) < min_confidence).astype(float)
    buttons = [c for c in NITROGEN_BUTTON_COLUMNS if c in df]
    df["hold_s"] = longest_hold(df[buttons].to_numpy(dtype=bool) if buttons else np.zeros((len(df), 0), bool)) / fps
    if inliers is not None:
        df["inliers"] = inliers
    return df


def longest_hold(pressed: np.ndarray) -> np.ndarray:
    """(T, B) bool → (T,) frames the longest-running held button has been held at each frame."""
    run = np.zeros(pressed.shape[1], dtype=np.int64)
    out = np.zeros(len(pressed), dtype=np.int64)
    for i, row in enumerate(pressed):
        run = np.where(row, run + 1, 0)
        out[i] = run.max(initial=0)
    return out


def build_suite(cfg: GateConfig, expected_rows: int, localized: bool = True) -> list[Any]:
    """The action-table expectations; each carries meta.reason, the quarantine reason it stands for.

    `localized=False` leaves out weak_localization, for tables whose source has no inlier count.
    """
    import great_expectations.expectations as gxe

    def e(cls, reason: str, **kwargs):
        return cls(meta={"reason": reason}, **kwargs)

    columns = [f.name for f in ACTION_TABLE_SCHEMA]
    suite = [
        e(gxe.ExpectTableColumnsToMatchSet, "schema", column_set=_flat_columns(columns), exact_match=False),
        e(gxe.ExpectColumnValuesToBeOfType, "dtype", column="frame", type_="int64"),
        e(gxe.ExpectColumnValuesToBeOfType, "dtype", column="t", type_="float64"),
        e(gxe.ExpectColumnValuesToBeOfType, "dtype", column="confidence", type_="float32"),
        e(gxe.ExpectColumnValuesToBeUnique, "duplicate_frame", column="frame"),
        e(gxe.ExpectColumnValuesToBeIncreasing, "frame_order", column="frame", strictly=True),
        e(gxe.ExpectColumnMinToBeBetween, "frame_gap", column="frame", min_value=0, max_value=0),
        e(gxe.ExpectColumnMaxToBeBetween, "frame_gap", column="frame", min_value=expected_rows - 1 - cfg.max_frame_count_error,
          max_value=expected_rows - 1 + cfg.max_frame_count_error),
        e(gxe.ExpectTableRowCountToBeBetween, "duration", min_value=expected_rows - cfg.max_frame_count_error,
          max_value=expected_rows + cfg.max_frame_count_error),
        e(gxe.ExpectColumnValuesToBeBetween, "fps", column="t_error", min_value=-cfg.timing_tolerance_s,
          max_value=cfg.timing_tolerance_s),
        e(gxe.ExpectColumnMeanToBeBetween, "low_confidence", column="low_confidence", min_value=0.0,
          max_value=cfg.max_low_confidence_share),
        e(gxe.ExpectColumnMaxToBeBetween, "stuck_button", column="hold_s", max_value=cfg.max_button_hold_s),
    ]
    if localized:
        suite.append(e(gxe.ExpectColumnMinToBeBetween, "weak_localization", column="inliers",
                        min_value=DEFAULT_MIN_INLIERS if cfg.min_inliers is None else cfg.min_inliers))
    for column in NITROGEN_BUTTON_COLUMNS:
        suite.append(e(gxe.ExpectColumnValuesToBeOfType, "dtype", column=column, type_="bool"))
    for column in AXIS_COLUMNS:
        suite.append(e(gxe.ExpectColumnValuesToNotBeNull, "axis_nan", column=column))
        suite.append(e(gxe.ExpectColumnValuesToBeBetween, "axis_out_of_range", column=column, min_value=-1.0, max_value=1.0))
    return suite


def _flat_columns(columns: list[str]) -> list[str]:
    out = []
    for c in columns:
        out += list(AXIS_COLUMNS[:2]) if c == "j_left" else list(AXIS_COLUMNS[2:]) if c == "j_right" else [c]
    return out


class TableValidator:
    """A Great Expectations context holding the suite, validating one DataFrame per video."""

    def __init__(self, cfg: GateConfig, docs_dir: Path | None = None):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.cfg = cfg
        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_dir = docs_dir
        if docs_dir is not None:
            self.context.add_data_docs_site(
                site_name="padflow_gate",
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self.asset = self.context.data_sources.add_pandas("padflow").add_dataframe_asset("action_tables")
        self.batch = self.asset.add_batch_definition_whole_dataframe("table")
        self._checkpoints: dict[tuple[int, bool], Any] = {}

    def _checkpoint(self, expected_rows: int, localized: bool):
        # The duration expectations depend on the ingested length, so one suite per length.
        if (expected_rows, localized) not in self._checkpoints:
            gx = self.gx
            from great_expectations.checkpoint import UpdateDataDocsAction

            name = f"{SUITE_NAME}_{expected_rows}" + ("" if localized else "_unlocalized")
            expectations = build_suite(self.cfg, expected_rows, localized)
            suite = self.context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
            vd = self.context.validation_definitions.add(gx.ValidationDefinition(name=name, data=self.batch, suite=suite))
            actions = [UpdateDataDocsAction(name="docs", site_names=["padflow_gate"])] if self.docs_dir else []
            self._checkpoints[(expected_rows, localized)] = self.context.checkpoints.add(
                gx.Checkpoint(name=name, validation_definitions=[vd], actions=actions, result_format="SUMMARY")
            )
        return self._checkpoints[(expected_rows, localized)]

    def validate(self, video_id: str, df: pd.DataFrame, expected_rows: int, localized: bool = True) -> tuple[list[str], list[str]]:
        """(reasons, failed expectation names) for one table; both empty when it passes."""
        from great_expectations.core.run_identifier import RunIdentifier

        result = self._checkpoint(expected_rows, localized).run(
            batch_parameters={"dataframe": df}, run_id=RunIdentifier(run_name=video_id)
        )
        reasons: list[str] = []
        failed: list[str] = []
        for validation in result.run_results.values():
            for r in validation.results:
                if r.success:
                    continue
                config = r.expectation_config
                column = config.kwargs.get("column")
                failed.append(f"{config.type}({column})" if column else config.type)
                reason = config.meta.get("reason", config.type)
                if reason not in reasons:
                    reasons.append(reason)
        return reasons, failed


def action_density(actions: np.ndarray, deadzone: float) -> np.ndarray:
    """(T, 21) → (T,) bool: a timestep acts when a button is held or a stick is off-centre."""
    return (actions[:, BUTTON_SLICE] > 0.5).any(axis=1) | (np.abs(actions[:, AXIS_SLICE]) > deadzone).any(axis=1)


def cut_chunks(actions: np.ndarray, motion: np.ndarray, cfg: GateConfig) -> list[tuple[int, float, float, str]]:
    """Chunks every `chunk_stride` frames → (start, density, motion, verdict) with verdict kept|density|static."""
    acting = action_density(actions, cfg.stick_deadzone)
    out = []
    for start in range(0, len(actions) - cfg.chunk_size + 1, cfg.chunk_stride):
        density = float(acting[start : start + cfg.chunk_size].mean())
        change = float(motion[start : start + cfg.chunk_size].max()) if len(motion) else 0.0
        if density < cfg.min_action_density:
            verdict = "density"
        elif change < cfg.static_threshold:
            verdict = "static"
        else:
            verdict = "kept"
        out.append((start, density, change, verdict))
    return out


def covered_frames(starts: list[int], chunk_size: int) -> int:
    """Frames inside at least one chunk of `chunk_size` frames starting at `starts` (sorted)."""
    covered, end = 0, 0
    for start in starts:
        covered += start + chunk_size - max(start, end)
        end = start + chunk_size
    return covered


def video_motion(path: Path, overlay_box: tuple[int, int, int, int], cfg: GateConfig) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Per-frame largest grey-level change in the game area (overlay masked), and the game picture's box.

    Frame 0 gets the change of frame 1. The game box is the bounding box of pixels brighter than
    `game_area_threshold` anywhere in the video (letterbox bars stay dark).
    """
    w, h = cfg.motion_size
    changes: list[float] = []
    brightest = None
    previous = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fw, fh = stream.codec_context.width, stream.codec_context.height
        mask = np.ones((h, w), bool)
        x0, y0, x1, y1 = overlay_box
        mask[int(y0 * h / fh) : int(np.ceil(y1 * h / fh)), int(x0 * w / fw) : int(np.ceil(x1 * w / fw))] = False
        for frame in container.decode(stream):
            grey = frame.to_ndarray(format="gray", width=w, height=h).astype(np.float32)
            brightest = grey if brightest is None else np.maximum(brightest, grey)
            if previous is not None:
                # The largest change, not the mean: a ball or a cursor is a few pixels of a frame,
                # while compression noise on a still picture stays well under the threshold.
                changes.append(float(np.abs(grey - previous)[mask].max()) if mask.any() else 0.0)
            previous = grey
    motion = np.array(changes[:1] + changes, dtype=np.float32) if changes else np.zeros(1 if previous is not None else 0, np.float32)
    game_box = (0, 0, fw, fh)
    if brightest is not None:
        lit = brightest > cfg.game_area_threshold
        lit[~mask] = False
        ys, xs = np.nonzero(lit)
        if len(xs):
            game_box = (int(xs.min() * fw / w), int(ys.min() * fh / h), int(np.ceil((xs.max() + 1) * fw / w)),
                        int(np.ceil((ys.max() + 1) * fh / h)))
    return motion, tuple(min(v, lim) for v, lim in zip(game_box, (fw, fh, fw, fh)))


def gate_tables(inputs: list[TableInput], skipped: list[Verdict], cfg: GateConfig, root: Path, out_dir: Path) -> tuple[GateReport, pd.DataFrame, np.ndarray]:
    """Validate, quarantine and chunk; returns the report, the chunk index and every chunk's density."""
    docs_dir = out_dir / "data_docs"
    shutil.rmtree(docs_dir, ignore_errors=True)
    validator = TableValidator(cfg, docs_dir)
    verdicts = list(skipped)
    rows: list[dict[str, Any]] = []
    densities: list[float] = []
    # Imported labels come as many tables per video: decode each video (and overlay box) once.
    motions: dict[tuple[Path, tuple[int, int, int, int]], tuple[np.ndarray, tuple[int, int, int, int]]] = {}
    for item in inputs:
        expected = item.rows_expected
        hours_in = expected / item.fps / SECONDS_PER_HOUR
        verdict = {"video_id": item.video_id, "hours_in": hours_in, "table_id": item.key, "notes": item.notes}
        try:
            table = read_action_table(item.table_path)
        except ValueError as exc:
            verdicts.append(Verdict(status="quarantined", reasons=("unreadable",), failed_expectations=(str(exc),), **verdict))
            continue
        frame = table_frame(table, item.fps, item.inliers, cfg.min_confidence)
        reasons, failed = validator.validate(item.key, frame, expected, localized=item.inliers is not None)
        if reasons:
            verdicts.append(Verdict(status="quarantined", reasons=tuple(reasons), failed_expectations=tuple(failed), **verdict))
            continue
        actions = table_to_actions(table)
        cache_key = (item.video_path, item.overlay_box)
        if cache_key not in motions:
            motions[cache_key] = video_motion(item.video_path, item.overlay_box, cfg)
        motion, game_box = motions[cache_key]
        chunks = cut_chunks(actions, motion[item.frame_offset : item.frame_offset + len(actions)], cfg)
        densities += [c[1] for c in chunks]
        kept = [c for c in chunks if c[3] == "kept"]
        for start, density, change, _ in kept:
            rows.append({
                "video_id": item.video_id,
                "video_path": _relative(item.video_path, root),
                "table_path": _relative(item.table_path, root),
                "start_frame": item.frame_offset + start,
                "frames": cfg.chunk_size,
                "fps": item.fps,
                "overlay_box": list(item.overlay_box),
                "game_box": list(game_box),
                "game": item.game,
                "density": density,
                "motion": change,
            })
        verdicts.append(Verdict(
            status="accepted",
            hours_kept=covered_frames([c[0] for c in kept], cfg.chunk_size) / item.fps / SECONDS_PER_HOUR,
            chunks_kept=len(kept),
            chunks_dropped_density=sum(c[3] == "density" for c in chunks),
            chunks_dropped_static=sum(c[3] == "static" for c in chunks),
            **verdict,
        ))
    index = pd.DataFrame(rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA])
    return GateReport(tuple(verdicts), asdict(cfg)), index, np.array(densities, np.float32)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def collect_inputs(cfg: GateConfig, root: Path) -> tuple[list[TableInput], list[Verdict]]:
    """Every source's listed tables joined with their ingest rows; tables not produced are 'skipped'."""
    inputs: list[TableInput] = []
    skipped: list[Verdict] = []
    for source in cfg.sources:
        found, passed = _collect_source(root / source, root / cfg.ingest_dir)
        inputs += found
        skipped += passed
    return inputs, skipped


def _collect_source(source_dir: Path, default_ingest_dir: Path) -> tuple[list[TableInput], list[Verdict]]:
    report_path = next((source_dir / name for name in TABLE_REPORTS if (source_dir / name).is_file()), None)
    if report_path is None:
        raise ValueError(
            f"{source_dir}: no table report ({' or '.join(TABLE_REPORTS)}); run the extract stage "
            f"or `padflow import-nitrogen` first"
        )
    listing = json.loads(report_path.read_text())
    ingest_dir = source_dir / listing["ingest_dir"] if "ingest_dir" in listing else default_ingest_dir
    ingest_report = read_report(ingest_dir)
    fps = float(ingest_report["config"]["fps"])  # every ingested video runs at this constant rate
    ingest_rows = accepted_videos(ingest_report)
    inputs, skipped = [], []
    for row in listing["tables"] if "tables" in listing else listing["videos"]:
        video_id = row["video_id"]
        table_id = row.get("table_id") or video_id
        ingested = ingest_rows.get(video_id, {})
        frames = int(ingested.get("frames_out") or 0)
        if row["status"] not in USABLE_STATUSES:
            hours = frames / fps / SECONDS_PER_HOUR
            why = (row["status"],) + ((row.get("reason"),) if row.get("reason") else ())
            skipped.append(Verdict(video_id, "skipped", why, (), hours, table_id=table_id))
            continue
        record = json.loads((source_dir / f"{table_id}.json").read_text())
        # extract nests its localization record; an import writes the same fields at the top.
        located = record.get("localization", record)
        inliers = None if located["inliers"] is None else int(located["inliers"])
        notes = ()
        if inliers is None:
            notes = (f"weak_localization not checked: {record.get('inliers_note') or 'the record has no inlier count'}",)
        expected = record.get("expected_frames")
        inputs.append(TableInput(
            video_id=video_id,
            table_path=source_dir / f"{table_id}.parquet",
            video_path=ingest_dir / ingested.get("output", f"videos/{video_id}.mp4"),
            fps=fps,
            frames_ingested=frames,
            inliers=inliers,
            overlay_box=tuple(int(v) for v in located["box"]),
            game=str(row.get("game") or ingested.get("game") or "unknown"),
            table_id=table_id,
            frame_offset=int(record.get("frame_offset", 0)),
            expected_frames=None if expected is None else int(expected),
            notes=notes,
        ))
    return inputs, skipped


def density_histogram(densities: np.ndarray, threshold: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(densities, bins=np.linspace(0, 1, 17), color="#4472c4", edgecolor="white")
    ax.axvline(threshold, color="#c00000", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("action density (share of timesteps with an action)")
    ax.set_ylabel("chunks")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path)


def write_chunk_index(index: pd.DataFrame, path: Path) -> Path:
    table = pa.Table.from_pandas(index, schema=CHUNK_INDEX_SCHEMA, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: gate every action table listed in params['gate'].sources."""
    cfg = from_mapping(GateConfig, params.get("gate"), "gate")
    if cfg.min_inliers is None:
        # One acceptance bar: the gate re-checks what extract's localization already required.
        localize = ((params.get("extract") or {}).get("localize") or {})
        cfg = replace(cfg, min_inliers=int(localize.get("min_inliers", DEFAULT_MIN_INLIERS)))
    out_dir = root / cfg.out_dir
    inputs, skipped = collect_inputs(cfg, root)
    report, index, densities = gate_tables(inputs, skipped, cfg, root, out_dir)
    totals = report.totals()
    write_json(out_dir / "gate_report.json", {"totals": totals, "videos": [asdict(v) for v in report.verdicts],
                                              "config": report.config})
    write_chunk_index(index, out_dir / "chunks.parquet")
    hist = density_histogram(densities, cfg.min_action_density, out_dir / "density_hist.png")
    kept_share = totals["hours_kept"] / totals["hours_in"] if totals["hours_in"] else 0.0
    if kept_share < cfg.min_kept_share:
        # Quarantine reasons, plus why skipped videos had no table (their first reason is the status).
        reasons = Counter(r for v in report.verdicts if v.status == "quarantined" for r in v.reasons)
        reasons.update(v.reasons[0] for v in report.verdicts if v.status == "skipped" and v.reasons)
        raise GateFailed(
            f"gate: only {100 * kept_share:.1f}% of {totals['hours_in'] * 60:.1f} input minutes survived "
            f"(batch expectation: at least {100 * cfg.min_kept_share:.0f}%); the batch looks broken. "
            f"Reasons: {dict(reasons) or 'none recorded'}; see {out_dir / 'gate_report.json'}"
        )
    return StageResult(
        params={"gate": asdict(cfg)},
        metrics=totals,
        artifacts={"gate": out_dir / "gate_report.json", "gate/plots": hist, "gate/data_docs": out_dir / "data_docs"},
    )
