"""`padflow score-extraction [--split heldout|all] [--json]`: score extract's outputs against the corpus truth."""

from __future__ import annotations

import json
from typing import Any

from padflow.config import PARAMS_FILE, load_section, project_root
from padflow.overlay.scoring import SPLITS, score_extraction
from tasks.extract import ExtractConfig


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "score-extraction",
        help="button accuracy, stick R², localization and false-overlay rates of extraction vs the corpus truth",
        description="Folders come from the `extract` section of params.yaml (out_dir, truth_dir, ingest_dir).",
    )
    p.add_argument("--split", choices=SPLITS, default="all", help="heldout: only videos whose skin the parser never saw")
    p.add_argument("--json", action="store_true", help="print the whole report as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    root = project_root()
    cfg = load_section(ExtractConfig, "extract") if (root / PARAMS_FILE).is_file() else ExtractConfig()
    report = score_extraction(root, root / cfg.out_dir, root / cfg.truth_dir, args.split, root / cfg.ingest_dir)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"split {report['split']}: {report['overlay_videos']} overlay videos, {report['no_overlay_videos']} without")
    for key in ("localization_rate", "false_overlay_rate", "skin_id_accuracy", "action_coverage", "button_accuracy", "button_all_correct_rate", "stick_r2"):
        print(f"  {key:24s} {_fmt(report[key])}")
    print("  stick R² per axis       " + "  ".join(f"{k} {_fmt(v)}" for k, v in report["stick_r2_axes"].items()))
    if report["unobserved_frames"]:  # controls the videos' skins do not draw: not scored, not misses
        print("  unobserved (frames)     " + "  ".join(f"{k} {n}" for k, n in report["unobserved_frames"].items()))
    for title in ("per_family", "by_opacity", "by_scale", "by_crf", "by_lag"):
        print(f"{title}:")
        for label, row in report[title].items():
            print(
                f"  {label:12s} videos {row['videos']:3d}  localized {_fmt(row['localization_rate'])}  "
                f"buttons {_fmt(row['button_accuracy'])}  sticks R² {_fmt(row['stick_r2'])}"
            )
    return 0


def _fmt(value: Any) -> str:
    return "  n/a" if value is None else f"{value:.3f}"
