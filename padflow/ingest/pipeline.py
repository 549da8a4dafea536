"""`ingest(src, out, cfg)`: list the inputs, settle what needs no decoding, normalize the rest in parallel, report."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

from padflow.fanout import TaskRunnerConfig, fan_out
from padflow.ingest.cache import link_tree, previous_report, remove_stale, reusable, write_record
from padflow.ingest.config import IngestConfig
from padflow.ingest.forensics import Rejection
from padflow.ingest.manifest import Candidate, VideoMeta, check_readable, list_inputs
from padflow.ingest.normalize import IngestJob, ingest_one, video_id_for
from padflow.ingest.report import METRICS_FILE, REPORT_FILE, UNKNOWN, VIDEOS_DIR, IngestReport, IngestRow
from padflow.io import file_sha256, replaced_dir, write_json


def ingest(
    src: Path,
    out: Path,
    cfg: IngestConfig,
    workers: int = 1,
    progress: Callable[[int, int, IngestRow], None] | None = None,
    runner: TaskRunnerConfig = TaskRunnerConfig(),
) -> IngestReport:
    """Ingest the folder or manifest `src` into `out`; write the report and metrics; return the report.

    Files that need decoding are normalized with `fan_out` on `runner`, `workers` at a time.
    `progress(done, total, row)` is called as each of them finishes. The run works in a folder
    beside `out` that starts as a hard-linked copy of it (what it reuses, and files it did not
    write) and takes `out`'s place only when the run succeeded (padflow.io.replaced_dir): an
    ingest that fails or is interrupted leaves `out` exactly as it was.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    src, out = Path(src), Path(out)
    started = time.perf_counter()
    root, candidates, ignored = list_inputs(src, out, cfg.extensions)
    with replaced_dir(out) as work:
        link_tree(out, work)
        return _ingest_into(work, src, out, root, candidates, ignored, cfg, workers, progress, runner, started)


def _ingest_into(
    out: Path,
    src: Path,
    final: Path,
    root: Path,
    candidates: list[Candidate],
    ignored: int,
    cfg: IngestConfig,
    workers: int,
    progress: Callable[[int, int, IngestRow], None] | None,
    runner: TaskRunnerConfig,
    started: float,
) -> IngestReport:
    """The run in the work folder `out` (a linked copy of the previous output), reported as written to `final`."""
    fingerprint = cfg.fingerprint()
    previous = previous_report(out)
    rows, jobs = plan(candidates, root, out, previous, reusable(previous, fingerprint, out))
    for i, row in zip(jobs, _run_jobs(list(jobs.values()), cfg, workers, progress, runner)):
        rows[i] = row

    files = tuple(rows[i] for i in range(len(candidates)))
    for row in files:
        if row.status == "accepted":
            write_record(out, row, cfg)
    removed = remove_stale(out, previous, {r.video_id for r in files if r.status == "accepted" and r.video_id})
    report = IngestReport(
        input=str(src),
        output=str(final),
        files=files,
        removed=tuple(removed),
        config=asdict(cfg),
        fingerprint=fingerprint,
        wall_s=time.perf_counter() - started,
        ignored=ignored,
    )
    write_json(out / REPORT_FILE, report.to_dict())
    write_json(out / METRICS_FILE, report.summary())
    return report


def plan(
    candidates: list[Candidate],
    root: Path,
    out: Path,
    previous: Mapping,
    reused: Mapping[str, IngestRow],
) -> tuple[dict[int, IngestRow], dict[int, IngestJob]]:
    """Settle what needs no decoding (unreadable, escaping, duplicate, reusable) and list the rest as jobs."""
    rows: dict[int, IngestRow] = {}
    hashed: dict[int, tuple[Path, str, int]] = {}
    for i, candidate in enumerate(candidates):
        rejection = check_readable(candidate, root)
        if rejection is None:
            resolved = candidate.path.resolve()
            try:
                hashed[i] = (resolved, file_sha256(resolved), resolved.stat().st_size)
            except OSError as exc:
                rejection = Rejection("unreadable", f"cannot read: {exc.strerror or exc}")
        if rejection is not None:
            meta = asdict(candidate.meta)
            rows[i] = IngestRow(candidate.display_path, "rejected", rejection.reason, rejection.detail, **meta)

    # One input per content hash. Kept: a copy the manifest describes (its source, licence and game
    # must not leave with a dropped copy), else the one ingested before if it is still listed, else
    # the first. A field the kept copy leaves unknown is filled from the other copies' entries.
    before = previous.get("files", [])
    accepted_before = {r.get("sha256"): r.get("path") for r in before if r.get("status") == "accepted"}

    def preference(i: int) -> tuple[bool, bool, int]:
        return candidates[i].meta == VideoMeta(), candidates[i].display_path != accepted_before.get(hashed[i][1]), i

    copies: dict[str, list[int]] = {}
    for i in sorted(hashed, key=preference):
        copies.setdefault(hashed[i][1], []).append(i)
    merged = {sha256: merge_meta([candidates[i].meta for i in group]) for sha256, group in copies.items()}

    jobs: dict[int, IngestJob] = {}
    for i, (resolved, sha256, size) in hashed.items():
        candidate, kept = candidates[i], copies[sha256][0]
        if kept != i:
            undescribed, not_before, _ = (a != b for a, b in zip(preference(kept), preference(i)))
            why = "the manifest describes it" if undescribed else "ingested before" if not_before else "listed first"
            detail = f"same bytes as {candidates[kept].display_path}, which is kept ({why})"
            meta = asdict(candidate.meta)
            rows[i] = IngestRow(candidate.display_path, "rejected", "duplicate", detail, sha256, bytes_in=size, **meta)
        elif sha256 in reused:
            rows[i] = dataclasses.replace(reused[sha256], path=candidate.display_path, processed=False, **asdict(merged[sha256]))
        else:
            output = out / VIDEOS_DIR / f"{video_id_for(sha256)}.mp4"
            jobs[i] = IngestJob(resolved, candidate.display_path, sha256, size, merged[sha256], output)
    return rows, jobs


def merge_meta(metas: list[VideoMeta]) -> VideoMeta:
    """The first known value of each field, in the order given (the kept copy first)."""
    fields = {}
    for f in dataclasses.fields(VideoMeta):
        known = [getattr(m, f.name) for m in metas if getattr(m, f.name) not in (UNKNOWN, None)]
        fields[f.name] = known[0] if known else getattr(metas[0], f.name)
    return VideoMeta(**fields)


def _run_jobs(
    jobs: list[IngestJob],
    cfg: IngestConfig,
    workers: int,
    progress: Callable[[int, int, IngestRow], None] | None,
    runner: TaskRunnerConfig,
) -> list[IngestRow]:
    """`ingest_one` over the jobs on `runner`; rows in job order (ingest_one never raises for a bad file)."""
    return fan_out(functools.partial(ingest_one, cfg=cfg), jobs, name="ingest", runner=runner, workers=workers,
                   labels=[job.display_path for job in jobs], progress=progress, unit="videos")
