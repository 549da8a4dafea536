"""gate: validate every action table, quarantine the bad ones, cut the rest into training chunks.

Each action table is checked by a Great Expectations suite (padflow.expectations: schema, dtypes,
contiguous frames, timing, value ranges, confidence, stuck buttons, localization strength). A table that
fails is quarantined with the names of the failed expectations and a reason for each; it never
stops the stage. Accepted tables are cut into `chunk_size`-step chunks; a chunk is dropped when
fewer than `min_action_density` of its timesteps carry any action (so the policy does not learn
to do nothing) or when the game picture barely changes (menus, loading screens). If too few
hours survive for the batch to look sane, the stage fails with a clear message: its report, Data
Docs and histogram go to `<out_dir>_failed/` and out_dir keeps the previous batch's outputs (they
are built beside it and swapped in only when the batch passes; a later pass removes the failed
folder). Chunks start
every `chunk_stride` frames: with a stride below `chunk_size` they overlap (NitroGen trains on
every window), and "hours kept" counts each frame of the kept chunks once.

Unobserved controls (a table's `padflow.unobserved` list, padflow.tables: controls its overlay's
skin does not draw) are not labels: the suite does not judge them (padflow.expectations), action
density counts only observed controls, each kept chunk carries the table's observed mask into the
index (`observed`) so training masks them too, and the verdict lists them. A table that observes
no control at all has no labels and is quarantined (`no_observed_controls`).

Inputs: every folder in `sources` holds action tables `<table_id>.parquet`, a record
`<table_id>.json` beside each (`inliers`, `box`; optionally `frame_offset`, `expected_frames`,
`inliers_note`) and a report listing them: `extract_report.json` (the extract stage: `videos`,
one whole-video table each, status `extracted`) or `import_report.json` (padflow.nitrogen: `tables`,
one table per imported label chunk, status `imported`, with `table_id`, and `ingest_dir` naming
the ingest folder of its videos). A table covers frames [frame_offset, frame_offset +
expected_frames) of its normalized video; its own `frame` column counts from 0. A record with
`inliers: null` (imported labels were never localized by padflow) gets no weak_localization
expectation; the gate report says so in the table's `notes`.

Rates (docs/overlay.md, "Frame rates"): a table runs at the rate of the video it was read from,
its record's `fps` (extract reads ingest's native-rate rendition: a 60 fps source's table has 60
rows a second). It is validated at that rate (row count, timing, holds in seconds) and chunked at
the normalized video's rate, which training decodes: each video frame takes the row nearest its
time (padflow.tables.rows_at_rate), and the index's `fps` is the video's.

Outputs (out_dir):
    chunks.parquet       the accepted-chunk index (padflow.tables.CHUNK_INDEX_SCHEMA; train reads it)
    gate_report.json     per video: verdict, reasons, failed expectations, hours; batch totals
    density_hist.png     action density of every chunk of accepted tables, with the threshold
    data_docs/           Great Expectations Data Docs (HTML; not bit-stable: they carry run times)
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import Field

from padflow.chunking import ChunkRule, MotionCache, TableInput, chunk_table, covered_frames
from padflow.config import config, from_mapping
from padflow.expectations import DEFAULT_MIN_INLIERS, TableValidator, table_reasons
from padflow.ingest.report import accepted_videos, native_video, read_report
from padflow.io import replaced_dir, save_figure, write_json
from padflow.stages import StageResult
from padflow.tables import CHUNK_INDEX_SCHEMA, read_action_table, table_observed, unobserved_names, write_chunk_index

SECONDS_PER_HOUR = 3600.0
TABLE_REPORTS = ("extract_report.json", "import_report.json")  # a source folder's listing of its tables
USABLE_STATUSES = ("extracted", "imported")  # listed tables with these statuses are gated; others are skipped
NO_OVERLAY = "no_overlay"  # extract's status of a video it found no overlay in (pseudo_label labels those, and unknown_skin ones)
Share = Annotated[float, Field(ge=0.0, le=1.0)]


@config
class GateConfig(ChunkRule):
    """The gate's settings: the chunking rule it shares with pseudo_label (padflow.chunking.ChunkRule), then its own."""

    min_confidence: Annotated[Share, Field(description=(
        "parser confidence (the least sure button x the stick-grid mass at the reading) below which a frame "
        "is low-confidence"))] = 0.2
    max_low_confidence_share: Annotated[Share, Field(description=(
        "a table with a larger share of low-confidence frames is quarantined"))] = 0.2
    max_button_hold_s: Annotated[float, Field(gt=0.0, description=(
        "seconds; a button held unchanged longer looks like a stuck parse (a control the parser misreads as "
        "pressed on one skin over one background). Raise it for games with long holds (accelerate, run)"))] = 15.0
    min_inliers: Annotated[int | None, Field(ge=0, description=(
        "localization inliers a table needs; unset: extract.localize.min_inliers (one acceptance bar: the "
        "gate re-checks what extract's localization required)"))] = None
    max_frame_count_error: Annotated[int, Field(ge=0, description=(
        "frames; |table rows - ingested frames| allowed (decoders may differ by an edge frame)"))] = 2
    timing_tolerance_s: Annotated[float, Field(ge=0.0, description="seconds; |t - frame/fps| allowed per row")] = 0.002
    min_kept_share: Annotated[Share, Field(description=(
        "batch expectation: the stage fails when a smaller share of the input hours with an overlay survives (the batch "
        "looks broken); videos extract found no overlay in are pseudo_label's input and not counted"))] = 0.2
    sources: Annotated[tuple[str, ...], Field(min_length=1, description=(
        "folders of action tables, each with its report: extract_report.json (the extract stage) or "
        "import_report.json (padflow import-nitrogen); add an import's output to train on it"))] = ("data/extract",)
    ingest_dir: Annotated[str, Field(description="ingest folder of the sources whose report names none")] = "data/ingest"
    workers: Annotated[int, Field(ge=1, description=(
        "videos whose motion is measured at a time, on threads of the stage's process (the verdicts do not depend on it)"))] = 2
    out_dir: Annotated[str, Field(description="chunk index, gate report, density histogram and Data Docs")] = "data/gate"


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
    unobserved: tuple[str, ...] = ()  # controls the table has no reading of (not labels; masked in training)


@dataclass(frozen=True)
class GateReport:
    verdicts: tuple[Verdict, ...]
    config: Mapping[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, float]:
        hours_in = sum(v.hours_in for v in self.verdicts)
        hours_kept = sum(v.hours_kept for v in self.verdicts)
        # Videos extract found no overlay in have no labels for the gate to keep: pseudo_label's input, not a loss.
        overlay_free = sum(v.hours_in for v in self.verdicts if v.status == "skipped" and v.reasons[:1] == (NO_OVERLAY,))
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
            "hours_overlay_free": round(overlay_free, 5),
            "chunks_kept": sum(v.chunks_kept for v in self.verdicts),
            "chunks_dropped_density": sum(v.chunks_dropped_density for v in self.verdicts),
            "chunks_dropped_static": sum(v.chunks_dropped_static for v in self.verdicts),
        }
        totals.update({f"quarantined_{reason}": n for reason, n in sorted(reasons.items())})
        return totals


class GateFailed(RuntimeError):
    """The batch as a whole looks broken; raised after the report is written."""


def gate_tables(inputs: list[TableInput], skipped: list[Verdict], cfg: GateConfig, root: Path, out_dir: Path) -> tuple[GateReport, pd.DataFrame, np.ndarray]:
    """Validate, quarantine and chunk; returns the report, the chunk index and every chunk's density.

    Every table is validated first, then the accepted ones are chunked: only their videos' motion is measured.
    """
    docs_dir = out_dir / "data_docs"
    shutil.rmtree(docs_dir, ignore_errors=True)
    validator = TableValidator(cfg, docs_dir)
    verdicts: list[Verdict | None] = []  # per input, in order; None until an accepted table is chunked
    passed: list[tuple[int, TableInput, Any, np.ndarray, dict[str, Any]]] = []
    for item in inputs:
        expected = item.rows_expected
        hours_in = expected / item.fps / SECONDS_PER_HOUR
        verdict = {"video_id": item.video_id, "hours_in": hours_in, "table_id": item.key, "notes": item.notes}
        try:
            table = read_action_table(item.table_path)
            observed = table_observed(table)
        except ValueError as exc:
            verdicts.append(Verdict(status="quarantined", reasons=("unreadable",), failed_expectations=(str(exc),), **verdict))
            continue
        unobserved = unobserved_names(observed)
        verdict["unobserved"] = unobserved
        if unobserved:
            verdict["notes"] = (*item.notes, f"unobserved (not labels, not checked, masked in training): {', '.join(unobserved)}")
        if not observed.any():
            verdicts.append(Verdict(status="quarantined", reasons=("no_observed_controls",),
                                    failed_expectations=("the table observes no control",), **verdict))
            continue
        reasons, failed = table_reasons(validator, item.key, table, item.fps, expected, item.inliers)
        if reasons:
            verdicts.append(Verdict(status="quarantined", reasons=tuple(reasons), failed_expectations=tuple(failed), **verdict))
            continue
        passed.append((len(verdicts), item, table, observed, verdict))
        verdicts.append(None)
    validator.build_docs()
    rows: list[dict[str, Any]] = []
    densities: list[float] = []
    motions = MotionCache(cfg)  # imported labels come as many tables per video: each video's motion once
    motions.measure([(item.video_path, item.overlay_box) for _, item, *_ in passed], cfg.workers)
    for slot, item, table, observed, verdict in passed:
        rows_kept, chunks = chunk_table(item, table, observed, cfg, motions, root)
        rows += rows_kept
        densities += [c.density for c in chunks]
        kept = [c for c in chunks if c.verdict == "kept"]
        verdicts[slot] = Verdict(
            status="accepted",
            hours_kept=covered_frames([c.start for c in kept], cfg.chunk_size) / item.step_fps / SECONDS_PER_HOUR,
            chunks_kept=len(kept),
            chunks_dropped_density=sum(c.verdict == "density" for c in chunks),
            chunks_dropped_static=sum(c.verdict == "static" for c in chunks),
            **verdict,
        )
    index = pd.DataFrame(rows, columns=[f.name for f in CHUNK_INDEX_SCHEMA])
    return GateReport((*skipped, *verdicts), asdict(cfg)), index, np.array(densities, np.float32)  # type: ignore[arg-type]


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
    fps = float(ingest_report["config"]["fps"])  # every normalized video runs at this constant rate: the chunks' step rate
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
        # A table is at the rate of the video it was read from (its record's `fps`): extract reads
        # the native-rate rendition (a 60 fps source's every frame), an import the normalized video.
        native, native_fps, native_frames = native_video(ingested) if ingested else ("", None, 0)
        read_native = native_fps is not None and Path(str(record.get("video", ""))).name == Path(native).name
        inputs.append(TableInput(
            video_id=video_id,
            table_path=source_dir / f"{table_id}.parquet",
            video_path=ingest_dir / ingested.get("output", f"videos/{video_id}.mp4"),
            fps=float(record.get("fps") or (native_fps if read_native else fps)),
            frames_ingested=native_frames if read_native else frames,
            inliers=inliers,
            overlay_box=tuple(int(v) for v in located["box"]),
            game=str(row.get("game") or ingested.get("game") or "unknown"),
            table_id=table_id,
            frame_offset=int(record.get("frame_offset", 0)),
            expected_frames=None if expected is None else int(expected),
            notes=notes,
            video_fps=fps,
        ))
    return inputs, skipped


def density_histogram(densities: np.ndarray, threshold: float, path: Path) -> Path:
    """The action density of every chunk of accepted tables, with the threshold, as a PNG."""
    # Local: the headless backend is chosen when drawing, not as a side effect of importing the stage.
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


def stage(params: Mapping[str, Any], root: Path) -> StageResult:
    """The DVC stage: gate every action table listed in params['gate'].sources."""
    cfg = from_mapping(GateConfig, params.get("gate"), "gate")
    if cfg.min_inliers is None:
        # One acceptance bar: the gate re-checks what extract's localization already required.
        localize = ((params.get("extract") or {}).get("localize") or {})
        cfg = replace(cfg, min_inliers=int(localize.get("min_inliers", DEFAULT_MIN_INLIERS)))
    out_dir = root / cfg.out_dir
    failed_dir = failed_batch_dir(out_dir)
    inputs, skipped = collect_inputs(cfg, root)
    # Written beside out_dir and swapped in only when the batch passes: a failed batch leaves the
    # previous chunk index (which train and idm_train read) as it was.
    with replaced_dir(out_dir) as work_dir:
        report, index, densities = gate_tables(inputs, skipped, cfg, root, work_dir)
        totals = report.totals()
        write_json(work_dir / "gate_report.json", {"totals": totals, "videos": [asdict(v) for v in report.verdicts],
                                                   "config": report.config})
        write_chunk_index(index, work_dir / "chunks.parquet")
        density_histogram(densities, cfg.min_action_density, work_dir / "density_hist.png")
        with_overlay = totals["hours_in"] - totals["hours_overlay_free"]
        kept_share = totals["hours_kept"] / with_overlay if with_overlay > 0 else 0.0
        if kept_share < cfg.min_kept_share:
            # The failed batch's report, Data Docs and histogram are what a user reads to see why:
            # they go to their own folder, never into out_dir.
            with replaced_dir(failed_dir) as failed_work:
                for path in work_dir.iterdir():
                    shutil.move(path, failed_work / path.name)
            # Quarantine reasons, plus why skipped videos had no table (their first reason is the status).
            reasons = Counter(r for v in report.verdicts if v.status == "quarantined" for r in v.reasons)
            reasons.update(v.reasons[0] for v in report.verdicts if v.status == "skipped" and v.reasons)
            what = (f"only {100 * kept_share:.1f}% of {with_overlay * 60:.1f} input minutes with an overlay survived "
                    f"(batch expectation: at least {100 * cfg.min_kept_share:.0f}%); the batch looks broken"
                    if with_overlay > 0 else
                    f"none of the {len(report.verdicts)} videos has an overlay extract could read, so nothing here labels an action")
            raise GateFailed(
                f"gate: {what}. Reasons: {dict(reasons) or 'none recorded'}; see {failed_dir / 'gate_report.json'} "
                f"({out_dir} keeps the previous outputs)"
            )
    shutil.rmtree(failed_dir, ignore_errors=True)  # an older failure's report would now mislead
    return StageResult(
        params={"gate": asdict(cfg)},
        metrics=totals,
        artifacts={"gate": out_dir / "gate_report.json", "gate/plots": out_dir / "density_hist.png",
                   "gate/data_docs": out_dir / "data_docs"},
    )


def failed_batch_dir(out_dir: Path) -> Path:
    """Where a batch that fails the gate leaves its report, Data Docs and histogram (beside out_dir)."""
    return out_dir.with_name(f"{out_dir.name}_failed")
