"""Reading overlays of the style generator's held-out styles: the look reader beside the trained parser.

    python bench/held_out_styles.py [--skins 16] [--frames 60] [--seed 0] [--parser DIR] [--crf N] [--json] [--save-json F] [--keep-videos DIR]

Source: padflow.overlay.styles.style_skins(--skins, held_out=True): sprite skins of the
(body, press) pairs of HELD_OUT_STYLES, which no parser_train run renders (issue 19's "held-out
styles" line). Drawn by padflow's own renderer, so this measures reading under game, placement,
opacity and compression, not a drawing another hand made (bench/real_overlays.py measures that).

Per skin, one clip: gameplay of one of several games (random-player runs of real game frames),
taken in turn, at 1280x720, 960x540 or 854x480; the skin at 12-30 % of the frame width, opacity
0.4-1, in a random corner; `--frames` frames at 30 fps, H.264 (crf 20-28, or `--crf N` for every
clip: the same clips otherwise, so `--crf 0` says how much of a loss is the encoder's); the shown actions are
padflow.overlay.synth.random_actions with opposite d-pad directions never held together (physical_dpad).

Each clip is localized with extract's settings against the built-in library plus the held-out
style skins (the skin must be named among them), then read twice: by the trained parser with
extract's calibration (`--parser`, default params extract.parser_dir; skipped when absent) and by
the look reader (padflow.overlay.look_reader). Scores (padflow.overlay.scoring.reading_scores):
button F1 and accuracy over the buttons the skin draws, stick R² over its axes. Prints a table and
the means (or JSON), and the means again over the clips whose look-reader table the gate would accept (its
Great Expectations suite, params.yaml `gate`: what the pipeline would train on; the localization check left out), and
over the controls each video can show (the look reader's `unseen` controls, which its table marks unobserved, left out;
the table's column lists them).
`--keep-videos DIR` keeps each clip (<skin id>.mp4) with its shown actions and
the localization's transform (<skin id>.npz: shown, matrix; zeros where none was found), for diagnosis.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from padflow.config import from_mapping, load_params, project_root
from padflow.expectations import TableValidator
from padflow.overlay.crops import box_iou
from padflow.overlay.library import SkinLibrary, load_library
from padflow.overlay.localize import LocalizeConfig, localize_overlay
from padflow.overlay.readable import readable_controls
from padflow.overlay.render import ANCHORS, Placement, composite, render_overlay
from padflow.overlay.scoring import reading_scores
from padflow.overlay.styles import style_of, style_skins
from padflow.overlay.synth import physical_dpad, random_actions
from padflow.players.footage import DISPLAY_ASPECT, collect_backgrounds, fit_to_upload
from padflow.sim import all_tasks
from padflow.video import write_mp4
from real_overlays import read_looks  # a sibling bench script (bench/ is the script's folder, first on sys.path)
from tasks.extract import ExtractConfig, read_by_parser
from tasks.gate import GateConfig

GAMES = ("pong_hold_15s", "ms_pacman_eat_30_dots", "boxing_score_10", "freeway_cross_once", "doom_basic_first_shot", "crafter_travel_far")
RESOLUTIONS = ((1280, 720), (960, 540), (854, 480))
WIDTH_FRAC, OPACITY, CRF = (0.12, 0.30), (0.4, 1.0), (20, 28)
CORNERS = tuple(a for a in ANCHORS if "-" in a)
FPS = 30.0
IOU_FLOOR = 0.8
METRICS = ("button_f1", "button_accuracy", "stick_r2")


def read_clip(video: Path, skin_id: str, box: tuple[int, int, int, int], shown: np.ndarray, library: SkinLibrary,
              cfg: LocalizeConfig, ext: ExtractConfig, parser: Any, gate: TableValidator, keep: Path | None = None) -> dict[str, Any]:  # fmt: skip
    loc = localize_overlay(video, library, cfg)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, keep / video.name)
        np.savez(keep / f"{video.stem}.npz", shown=shown, matrix=np.asarray(loc.transform if loc.transform is not None else np.zeros((2, 3)), np.float64))
    row: dict[str, Any] = {"outcome": getattr(loc, "outcome", "found" if loc.found else "no_overlay"), "skin": loc.skin_id,
                           "iou": round(box_iou(loc.box, box), 3) if loc.box else None}  # fmt: skip
    if not (loc.found and loc.skin_id == skin_id and row["iou"] >= IOU_FLOOR):
        return row
    skin = library.skins[skin_id]
    observed = readable_controls(skin)  # what a table made with the skin labels
    if parser is not None:
        row["parser"] = reading_scores(read_by_parser(video, loc.matrix, skin, parser, ext).actions, shown, observed)
    row["looks"], _ = read_looks(video, loc.matrix, skin, shown, observed, gate, ext.decode_threads)
    return row


def means(rows: list[dict[str, Any]], reader: str, accepted: bool = False, shown_only: bool = False) -> dict[str, float | None]:
    """Each metric's mean over the clips `reader` read (with `accepted`, only those whose table the gate would accept; with
    `shown_only`, scored over the controls each video can show: the look reader's)."""
    out: dict[str, float | None] = {}
    read = [r[reader] for r in rows if reader in r and not (accepted and r[reader].get("gate"))]
    read = [x["shown_only"] for x in read] if shown_only else read
    for metric in METRICS:
        values = [x[metric] for x in read if x[metric] is not None]
        out[metric] = round(float(np.mean(values)), 3) if values else None
    return out


def gate_cell(row: dict[str, Any]) -> str:
    if "looks" not in row:
        return "–"
    return ", ".join(row["looks"]["gate"]) or "accepted"


def table(result: dict[str, Any]) -> str:
    readers = [r for r in ("parser", "looks") if any(r in row for row in result["rows"])]
    head = "| skin | style (body, press) | game | width | opacity | outcome | IoU | " + " | ".join(f"{r} {m}" for r in readers for m in ("F1", "acc", "R²")) + " | gate (looks) | unseen (looks) |"
    lines = [head, "|" + "---|" * (9 + 3 * len(readers))]
    cell = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    for row in result["rows"]:
        scores = [cell(row.get(r, {}).get(m)) for r in readers for m in METRICS]
        lines.append(f"| {row['skin_id']} | {', '.join(row['style'])} | {row['game']} | {row['width_frac']:.2f} | {row['opacity']:.2f} | "
                     f"{row['outcome']} | {cell(row['iou'])} | " + " | ".join(scores) + f" | {gate_cell(row)} | {', '.join(row.get('looks', {}).get('unseen', [])) or '–'} |")  # fmt: skip
    lines.append("")
    for reader in readers:
        lines.append(f"Means, {reader} ({sum(reader in r for r in result['rows'])} clips read): " + ", ".join(f"{m} {cell(v)}" for m, v in result["means"][reader].items()))
    judged = [r["looks"]["gate"] for r in result["rows"] if "looks" in r]
    if judged:
        reasons = Counter(reason for clip in judged for reason in clip)
        lines.append(f"Means, looks, tables the gate accepts ({sum(not clip for clip in judged)} of {len(judged)}; quarantined for "
                     + (", ".join(f"{k} {n}" for k, n in sorted(reasons.items())) or "nothing") + "): "
                     + ", ".join(f"{m} {cell(v)}" for m, v in result["means"]["looks accepted"].items()))  # fmt: skip
    if "looks shown" in result["means"]:
        unseen = [r["looks"]["unseen"] for r in result["rows"] if "looks" in r]
        lines.append(f"Means, looks, over the controls each video can show ({sum(map(len, unseen))} controls unseen in {sum(map(bool, unseen))} of "
                     f"{len(unseen)} clips: not scored, as their tables mark them unobserved): "
                     + ", ".join(f"{m} {cell(v)}" for m, v in result["means"]["looks shown"].items()))  # fmt: skip
    lines.append(f"Localized with the right skin at IoU >= {IOU_FLOOR}: {result['read']} of {len(result['rows'])}; {result['seconds']:.0f} s.")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skins", type=int, default=16, help="held-out style skins, one clip each")
    ap.add_argument("--frames", type=int, default=60, help="frames per clip (30 fps)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the clips (games, placement, shown actions), not the skins")
    ap.add_argument("--crf", type=int, help="encode every clip at this H.264 crf instead of one drawn from 20-28 (0: lossless)")
    ap.add_argument("--parser", type=Path, help="trained overlay parser folder (default: params extract.parser_dir; skipped when absent)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--save-json", type=Path, help="also write the result as JSON to this file")
    ap.add_argument("--keep-videos", type=Path, help="also keep each clip, its shown actions and localization transform in this folder, for diagnosis")
    args = ap.parse_args()
    root = project_root()
    params = load_params(root / "params.yaml")
    ext = from_mapping(ExtractConfig, params.get("extract"), "extract")
    cfg = from_mapping(LocalizeConfig, (params.get("extract") or {}).get("localize"), "extract.localize")
    parser_dir = args.parser or root / ext.parser_dir
    parser = None
    if parser_dir.is_dir():
        from models.overlay_parser import load_parser  # local: torch loads only when a parser is there

        parser = load_parser(parser_dir)
    else:
        print(f"no parser at {parser_dir}: the look reader only", file=sys.stderr)
    gate = TableValidator(from_mapping(GateConfig, params.get("gate"), "gate"))
    skins = style_skins(args.skins, held_out=True)
    library = SkinLibrary({**load_library([]).skins, **skins})
    tasks = all_tasks()
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    runs = collect_backgrounds(GAMES, args.frames, 2, args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (skin_id, skin) in enumerate(skins.items()):
            game, (width, height) = GAMES[k % len(GAMES)], RESOLUTIONS[k % len(RESOLUTIONS)]
            placement = Placement(str(rng.choice(CORNERS)), float(rng.uniform(*WIDTH_FRAC)), float(rng.uniform(*OPACITY)))
            crf = int(rng.integers(CRF[0], CRF[1] + 1))  # drawn under --crf too: the clips stay the same
            crf = crf if args.crf is None else args.crf
            shown = physical_dpad(random_actions(args.frames, rng))
            aspect = DISPLAY_ASPECT.get(tasks[game].engine)
            overlay_width = placement.overlay_width(width)
            drawn = [composite(fit_to_upload(runs[k % len(GAMES)][t], width, height, aspect)[0], render_overlay(skin, shown[t], overlay_width), placement)
                     for t in range(args.frames)]  # fmt: skip
            video = Path(tmp) / f"{skin_id}.mp4"
            write_mp4(video, (frame for frame, _ in drawn), FPS, crf=crf)
            row = {"skin_id": skin_id, "style": list(style_of(k, True)), "game": game, "frame": [width, height],
                   "width_frac": round(placement.width_frac, 3), "opacity": round(placement.opacity, 2), "crf": crf,
                   **read_clip(video, skin_id, drawn[0][1], shown, library, cfg, ext, parser, gate, args.keep_videos)}  # fmt: skip
            print(f"{skin_id}: {row['outcome']} {row['skin']} iou {row['iou']} parser {row.get('parser')} looks {row.get('looks')}", file=sys.stderr)
            rows.append(row)
    result = {"command": " ".join(sys.argv[1:]), "source": f"padflow.overlay.styles held-out styles, {args.skins} skins",
              "parser": str(parser_dir) if parser is not None else None, "frames": args.frames, "seed": args.seed,
              "seconds": round(time.perf_counter() - started, 1), "rows": rows,
              "read": sum("looks" in r for r in rows), "means": {r: means(rows, r) for r in ("parser", "looks")} | {"looks accepted": means(rows, "looks", accepted=True), "looks shown": means(rows, "looks", shown_only=True)}}  # fmt: skip
    print(json.dumps(result, indent=2) if args.json else table(result))
    if args.save_json:
        args.save_json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
