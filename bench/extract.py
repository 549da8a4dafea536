"""Extraction throughput: end-to-end frames/s of the extract stage next to decode-only frames/s.

    python bench/extract.py [--videos 24] [--repeats 2] [--workers 1 2] [--runner process|thread|dask] [--no-decode]

Inputs are the project's ingested videos (data/ingest, the default corpus after `padflow stage
corpus` and `padflow stage ingest`), read as the stage reads them: each video's native-rate
rendition (a 60 fps source is twice the frames of a 30 fps one of the same length). The parser is data/parser when it has been trained, else a
parser of the default ParserConfig with random weights (speed does not depend on training).

decode-only    every frame of every video decoded to RGB (padflow.video.iter_frames, FFmpeg
               threads), fanned out over the same runner and number of workers: the physical
               floor of any extraction
end-to-end     tasks/extract.py's `extract_all` (localization, decoding, rectification, parsing,
               writing tables) into a temporary folder, with 1 and with 2 workers of the
               stage's runner (`--runner`, default params.yaml's orchestration runner of the
               extract stage; one worker on a local runner runs in this process). Worker
               start-up is inside the timing, as in the stage.
speed-up       end-to-end frames/s of the most workers over the fewest

Both are wall-clock frames per second over all videos; the best of `--repeats` runs is kept (the
machine is shared). Peak memory is the largest resident set of this process and of its worker
processes (resource.getrusage). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from padflow.config import from_mapping, load_params, project_root
from padflow.fanout import TaskRunnerConfig, fan_out, runner_config
from padflow.ingest.report import REPORT_FILE as INGEST_REPORT
from padflow.ingest.report import native_video
from padflow.video import iter_frames
from tasks.extract import PARSER_WEIGHTS, ExtractConfig, extract_all, ingested_videos


def decode_all(path: Path) -> int:
    """Frames of one video, every one decoded to RGB."""
    return sum(1 for _ in iter_frames(path))


def decode_only(videos: list[Path], workers: int, runner: TaskRunnerConfig) -> tuple[float, int]:
    started = time.perf_counter()
    frames = sum(fan_out(decode_all, videos, name="decode", runner=runner, workers=workers))
    return frames / (time.perf_counter() - started), frames


def project_copy(root: Path, cfg: ExtractConfig, rows: list[dict], scratch: Path) -> Path:
    """A scratch project that sees the real ingest folder and a parser (trained if there is one)."""
    work = scratch / "project"
    (work / "data").mkdir(parents=True)
    ingest = work / "data" / "ingest"
    ingest.mkdir()
    (ingest / "videos").symlink_to((root / cfg.ingest_dir / "videos").resolve())
    (ingest / INGEST_REPORT).write_text(json.dumps({"files": rows}))
    parser_dir = root / cfg.parser_dir
    if (parser_dir / PARSER_WEIGHTS).is_file():
        (work / "data" / "parser").symlink_to(parser_dir.resolve())
    else:
        from models.overlay_parser import OverlayParser, ParserConfig, save_parser

        save_parser(OverlayParser(ParserConfig()), work / "data" / "parser")
    return work


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=24, help="first N accepted videos of the ingest report")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runner", choices=["process", "thread", "dask"], help="task runner kind (default: params.yaml)")
    ap.add_argument("--no-decode", action="store_true", help="skip the decode-only floor")
    args = ap.parse_args()

    root = project_root()
    params = load_params(root / "params.yaml")
    cfg = from_mapping(ExtractConfig, params.get("extract"), "extract")
    runner = runner_config(params, "extract")
    if args.runner:
        runner = replace(runner, kind=args.runner, address=runner.address if args.runner == "dask" else None)
    rows = list(ingested_videos(root / cfg.ingest_dir))[: args.videos]
    if not rows:
        raise SystemExit(f"no ingested videos in {root / cfg.ingest_dir}: run `padflow stage corpus` and `padflow stage ingest`")
    videos = [root / cfg.ingest_dir / native_video(r)[0] for r in rows]
    rates = sorted({native_video(r)[1] or float(params.get("ingest", {}).get("fps", 30.0)) for r in rows})
    sizes = sorted({tuple(r["size_out"]) for r in rows if r.get("size_out")})
    trained = (root / cfg.parser_dir / PARSER_WEIGHTS).is_file()
    result: dict = {"videos": len(rows), "resolutions": [list(s) for s in sizes], "frame_rates": rates,
                    "parser": "trained" if trained else "untrained default",
                    "runner": runner.kind if runner.address is None else f"dask at {runner.address}"}
    with tempfile.TemporaryDirectory() as tmp:
        work = project_copy(root, cfg, rows, Path(tmp))
        for workers in args.workers:
            decode_fps = None if args.no_decode else max(decode_only(videos, workers, runner)[0] for _ in range(args.repeats))
            e2e = []
            for k in range(args.repeats):
                run_cfg = replace(cfg, workers=workers, out_dir=f"data/extract_{workers}_{k}", truth_dir="data/none")
                outcomes, wall = extract_all(run_cfg, work, runner=runner)
                e2e.append(sum(o.frames for o in outcomes) / wall)
                statuses = {s: sum(o.status == s for o in outcomes) for s in ("extracted", "no_overlay", "failed")}
            best = max(e2e)
            result[f"workers_{workers}"] = {
                "decode_only_frames_per_s": None if decode_fps is None else round(decode_fps, 1),
                "end_to_end_frames_per_s": round(best, 1),
                "end_to_end_over_decode": None if decode_fps is None else round(best / decode_fps, 3),
                "runs_frames_per_s": [round(v, 1) for v in e2e],
                "frames": sum(o.frames for o in outcomes),
                "statuses": statuses,
            }
    fewest, most = min(args.workers), max(args.workers)
    if most > fewest:
        result[f"speedup_{most}_over_{fewest}"] = round(
            result[f"workers_{most}"]["end_to_end_frames_per_s"] / result[f"workers_{fewest}"]["end_to_end_frames_per_s"], 2)
    result["peak_rss_mb"] = {
        "this_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "largest_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
