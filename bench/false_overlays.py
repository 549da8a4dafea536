"""False overlays: localization on overlay-free gameplay of every task, at upload sizes and compression.

    python bench/false_overlays.py [--seconds 10] [--tasks ...] [--json]

The default corpus holds only three videos without an overlay, too few to tell how often a game
picture passes for one. This plays each task of the suite with the scripted player (seed 0),
scales the frames into an upload frame (the corpus's resolutions in turn, black bars, as the
corpus stage does), encodes H.264 at the corpus's middle quality and localizes with extract's
settings from params.yaml. Every video is overlay-free, so every "found" is a false overlay.

Reported per video: the best fit's skin, inliers and distinct template locations; and over all
videos, the false-overlay rate and the most locations any fit with `min_inliers` inliers
reached: the margin below `min_locations`; and the most locations guided matching found at a
voted pose: the margin below `rescue_min_locations`. Prints one JSON object with --json, else a table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from padflow.config import from_mapping, load_params, project_root
from padflow.overlay.library import load_library
from padflow.overlay.localize import LocalizeConfig, localize_overlay
from padflow.players.footage import DISPLAY_ASPECT, fit_to_upload, record_gameplay
from padflow.sim import all_tasks
from padflow.video import write_mp4
from tasks.corpus import CorpusConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="gameplay per task, seconds")
    ap.add_argument("--tasks", nargs="*", help="task ids (default: the whole suite)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    root = project_root()
    params = load_params(root / "params.yaml")
    corpus = from_mapping(CorpusConfig, params.get("corpus"), "corpus")
    cfg = from_mapping(LocalizeConfig, (params.get("extract") or {}).get("localize"), "extract.localize")
    library = load_library([root / d for d in (params.get("overlay") or {}).get("skin_dirs") or ()])
    tasks = all_tasks()
    chosen = args.tasks or sorted(tasks)
    crf = (corpus.crf[0] + corpus.crf[1]) // 2
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, task_id in enumerate(chosen):
            width, height = corpus.resolutions[i % len(corpus.resolutions)]
            frames, _, _, _ = record_gameplay(task_id, corpus.skills[0], 0, args.seconds, corpus.fps)
            aspect = DISPLAY_ASPECT.get(tasks[task_id].engine)
            video = Path(tmp) / f"{task_id}.mp4"
            write_mp4(video, (fit_to_upload(f, width, height, aspect)[0] for f in frames), corpus.fps, crf=crf, preset=corpus.preset)
            loc = localize_overlay(video, library, cfg)  # a rejected fit keeps its inliers and locations
            rows.append({"task": task_id, "size": [width, height], "found": loc.found, "skin_id": loc.skin_id,
                         "best_inliers": loc.inliers, "best_locations": loc.locations, "rescue_locations": loc.rescue_locations,
                         "reason": loc.reason})
    strong = [r["best_locations"] for r in rows if r["best_inliers"] >= cfg.min_inliers]
    result = {
        "videos": len(rows),
        "false_overlays": sum(r["found"] for r in rows),
        "false_overlay_rate": round(sum(r["found"] for r in rows) / len(rows), 4) if rows else 0.0,
        "min_inliers": cfg.min_inliers,
        "min_locations": cfg.min_locations,
        "max_locations_with_min_inliers": max(strong, default=0),
        "rescue_min_locations": cfg.rescue_min_locations,
        "max_rescue_locations": max((r["rescue_locations"] for r in rows), default=0),
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for r in rows:
        print(f"{r['task']:32s} {r['size'][0]}x{r['size'][1]:<5d} found={r['found']!s:5s} "
              f"inliers={r['best_inliers']:<4d} locations={r['best_locations']:<3d} guided={r['rescue_locations']:<3d} {r['reason'][:70]}")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))


if __name__ == "__main__":
    main()
