"""A skin drafted from the video vs the true skin: localization and button F1 side by side.

    python bench/skin_from_video.py [--clips 6] [--frames 180] [--opacity O] [--within] [--parser DIR] [--json]

Clips: each is a library skin (padflow's generator, held-out ones included) drawn with
padflow.overlay.render over Atari gameplay (padflow.players.footage.record_gameplay, 640x360,
H.264 crf 22) showing actions from padflow.overlay.synth.random_actions, each held 6 frames. A
clip is rendered as 2 x `--frames` frames and cut in two files: the skin is drafted from the FIRST
part only (padflow.overlay.draft.draft_skin), and both skins are measured on the SECOND part.
`--opacity` draws every clip at that opacity instead of its own (faint overlays: 0.5). `--within`
drafts inside the box localization gives the drafting part (padflow.overlay.localize, the built-in
library: the box extract records for a found or an `unknown_skin` overlay), as `padflow skins
from-video --box` does; a clip where localization finds no overlay is drafted without a box.

Naming (automatic, standing in for the user): each drafted region is named after the true
control whose box (the true skin's regions(), mapped onto the draft's canvas) overlaps it most
(a stick region: the stick whose reach overlaps it most); when several regions get one name, the
one with the largest overlap keeps it (a user names the largest piece of a control); regions
less than 30 % inside any control's box are dropped.

Localization on the measuring clip:
  true skin    padflow.overlay.localize.localize_overlay with the built-in library; IoU with the
               drawn box (the skin's canvas)
  drafted      the drafted rest picture found by normalized cross-correlation (alpha-masked,
               scale 1: the same stream's overlay) on the clip's median frame; IoU with the
               drawn overlay's visible box (the skin's opaque pixels: the canvas' transparent
               margins cannot be seen, so no draft can find them)
Reading the measuring clip's buttons, with each skin at its localization:
  look         a reader without training (`look_reader`): a button reads pressed when its pixels
               are closer to the skin's own pressed render than to its rest render — the same
               reader for both skins, so the difference is the skin's
  parser       (--parser DIR) the trained overlay parser through padflow.overlay.readings
               (tasks.extract.read_by_parser, extract's default settings)
Button F1 is micro-averaged over all 17 buttons against the shown actions (a button the draft
does not draw reads "not pressed"), and over the buttons the draft names only ("_named").
Prints one JSON line per clip, then a table (or all rows as JSON with --json).

    python bench/skin_from_video.py --clips 6 --frames 180 --parser /work/fresh-main/data/parser

`--unknown RUN.json --work DIR` drafts instead the videos a `bench/localization.py --work DIR --json`
run recorded `unknown_skin` (library skins of padflow's corpora that the skin check could not name),
each without and with the box localization recorded, and prints, per video and summed, the drafted
box's IoU with the overlay's visible box (the corpus truth) and how many drafted regions a true
control covers (the naming above).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from padflow.actions import BUTTONS, N_BUTTONS, noop
from padflow.overlay.crops import box_iou, placement_transform, rectify, visible_box
from padflow.overlay.draft import DraftSettings, draft_skin, named_skin
from padflow.overlay.library import load_library
from padflow.overlay.localize import LocalizeConfig, localize_overlay
from padflow.overlay.render import Placement, draw_overlay, render_overlay
from padflow.overlay.synth import random_actions
from padflow.players.footage import fit_to_upload, record_gameplay
from padflow.video import iter_frames, write_mp4
from tasks.extract import ExtractConfig, read_by_parser

FRAME_SIZE = (640, 360)
HOLD_FRAMES = 6
CLIPS = (  # skin, game task, anchor, width fraction, opacity
    ("xbox-01", "pong_score_point", "bottom-left", 0.25, 1.0),
    ("playstation-07", "freeway_cross_once", "bottom-right", 0.22, 0.9),  # held out
    ("nintendo-05", "boxing_score_10", "top-left", 0.25, 1.0),
    ("generic-11", "ms_pacman_eat_30_dots", "bottom-left", 0.28, 0.8),  # held out
    ("xbox-09", "freeway_cross_once", "top-right", 0.2, 1.0),  # held out
    ("generic-03", "pong_score_point", "bottom-right", 0.25, 0.9),  # held out
    ("playstation-02", "boxing_score_10", "bottom-left", 0.22, 1.0),
    ("nintendo-10", "ms_pacman_eat_30_dots", "top-left", 0.25, 1.0),  # held out
)
MIN_COVER = 0.3


def render(spec, frames: int, folder: Path, seed: int, opacity: float | None = None):
    skin_id, task, anchor, width, own_opacity = spec
    opacity = own_opacity if opacity is None else opacity
    skin = load_library().skins[skin_id]
    game, _, _, _ = record_gameplay(task, "average", seed=seed, seconds=2 * frames / 30, fps=30.0)
    base = random_actions(2 * frames // HOLD_FRAMES + 1, np.random.default_rng(seed))
    actions = np.repeat(base, HOLD_FRAMES, axis=0)[: 2 * frames]
    placement = Placement(anchor=anchor, width_frac=width, opacity=opacity)
    drawn, box = [], None
    for frame, action in zip(game, actions):
        out, box = draw_overlay(fit_to_upload(frame, *FRAME_SIZE)[0], skin, action, placement)
        drawn.append(out)
    parts = []
    for k, name in enumerate(("draft", "measure")):
        path = folder / f"{skin_id}-{name}.mp4"
        write_mp4(path, drawn[k * frames : (k + 1) * frames], 30.0, crf=22)
        parts.append(path)
    visible, scale = visible_box(skin, box)
    return skin, parts, actions[frames:], box, visible, scale


def true_names(draft, skin, box, scale) -> dict[int, str]:
    """Each region named after the true control covering most of it (see the module doc)."""
    sx, sy = scale
    dx, dy = draft.box[0] - box[0], draft.box[1] - box[1]
    controls = {}
    for name, (x0, y0, x1, y1) in skin.regions().items():
        if name in ("LEFT_THUMB", "RIGHT_THUMB"):
            name = "LEFT_STICK" if name == "LEFT_THUMB" else "RIGHT_STICK"
        elif name not in BUTTONS:
            continue
        controls[name] = (x0 * sx - dx, y0 * sy - dy, x1 * sx - dx, y1 * sy - dy)
    best: dict[str, tuple[float, int]] = {}
    for r in draft.regions:
        area = (r.box[2] - r.box[0]) * (r.box[3] - r.box[1])
        pool = {n: b for n, b in controls.items() if (n in ("LEFT_STICK", "RIGHT_STICK")) == (r.kind == "stick")}
        shared = {n: _inter(r.box, b) for n, b in pool.items()}
        if not shared:
            continue
        name = max(shared, key=shared.get)
        if shared[name] >= MIN_COVER * area and shared[name] > best.get(name, (0.0, 0))[0]:
            best[name] = (shared[name], r.number)
    return {number: name for name, (_, number) in best.items()}


def _inter(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def find_rest(video: Path, rest: np.ndarray) -> tuple[int, int, int, int]:
    """The drafted rest picture's best match (masked normalized cross-correlation) on the clip's median frame."""
    frames = np.stack([f for i, f in enumerate(iter_frames(video)) if i % 4 == 0])
    median = np.median(frames, axis=0).astype(np.uint8)
    mask = np.repeat((rest[..., 3:4] > 0).astype(np.uint8), 3, axis=2)
    score = cv2.matchTemplate(median, np.ascontiguousarray(rest[..., :3]), cv2.TM_SQDIFF, mask=mask)
    _, _, (x, y), _ = cv2.minMaxLoc(np.nan_to_num(score, nan=np.inf))
    return x, y, x + rest.shape[1], y + rest.shape[0]


def look_reader(video: Path, transform: np.ndarray, skin) -> np.ndarray:
    """(T, 17) buttons read by comparing each drawn button's pixels with the skin's own idle and pressed looks.

    The frame is warped onto the skin's canvas (the localization's transform); a button reads
    pressed when its pixels (those its pressed look changes) are closer to the pressed render than
    to the rest render. No training: the same reader for both skins, so only the skins differ.
    """
    rest = render_overlay(skin, noop()).astype(np.float32)
    looks = []
    for k, name in enumerate(BUTTONS):
        if name not in skin.observed:
            continue
        action = noop()
        action[k] = 1.0
        pressed = render_overlay(skin, action).astype(np.float32)
        mask = (np.abs(pressed - rest).max(axis=2) > 24) & (pressed[..., 3] > 0)
        if mask.sum() >= 3:
            looks.append((k, mask, rest[mask][:, :3], pressed[mask][:, :3]))
    out = np.zeros((0, N_BUTTONS), bool)
    rows = []
    w, h = skin.size
    for frame in iter_frames(video):
        canvas = rectify(frame, transform, (w, h), (0.0, 0.0, float(w), float(h))).astype(np.float32)
        row = np.zeros(N_BUTTONS, bool)
        for k, mask, idle, on in looks:
            pixels = canvas[mask]
            row[k] = np.abs(pixels - on).mean() < np.abs(pixels - idle).mean()
        rows.append(row)
    return np.array(rows) if rows else out


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float((pred & truth).sum())
    fp, fn = float((pred & ~truth).sum()), float((~pred & truth).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def read(video: Path, transform: np.ndarray, skin, parser, cfg: ExtractConfig) -> np.ndarray:
    return read_by_parser(video, transform, skin, parser, cfg).actions


def unknown_skin_drafts(run: Path, work: Path) -> list[dict]:
    """`--unknown`: each unknown_skin video of a bench/localization.py run drafted anywhere and in its recorded box."""
    library = load_library()
    rows = []
    for miss in json.loads(run.read_text())["misses"]:
        if miss.get("outcome") != "unknown_skin":
            continue
        if "box" not in miss:
            raise ValueError(f"{run}: its rows carry no `box` (bench/localization.py before 2026-12-08); run it again")
        box = tuple(miss["box"])
        folder = work / f"seed{miss['seed']}"
        drawn = json.loads((folder / "truth" / f"{miss['video']}.json").read_text())["overlay_box"]
        skin = library.skins[miss["skin_id"]]
        visible, (sx, sy) = visible_box(skin, drawn)
        row = {"seed": miss["seed"], "video": miss["video"], "skin": skin.id, "opacity": miss["opacity"], "width_px": miss["width_px"]}
        for name, within in (("anywhere", None), ("in_box", box)):
            started = time.perf_counter()
            try:
                draft = draft_skin(folder / "raw" / f"{miss['video']}.mp4", DraftSettings(within=within))
                row[name] = {"iou": round(box_iou(draft.box, visible), 3), "regions": len(draft.regions),
                             "named": len(true_names(draft, skin, drawn, (sx, sy)))}
            except ValueError as exc:
                row[name] = {"iou": 0.0, "regions": 0, "named": 0, "error": str(exc)[-120:]}
            row[name]["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    for name in ("anywhere", "in_box"):
        ious = [r[name]["iou"] for r in rows]
        print(f"{name}: drafted box IoU >= 0.5 on {sum(i >= 0.5 for i in ious)} of {len(rows)}, median {np.median(ious) if rows else 0:.2f}; "
              f"regions a true control covers {sum(r[name]['named'] for r in rows)}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=6, help=f"clips to run, at most {len(CLIPS)}")
    ap.add_argument("--frames", type=int, default=180, help="frames per part (drafting part, measuring part)")
    ap.add_argument("--parser", type=Path, help="also read with a trained parser folder (models.overlay_parser), e.g. data/parser")
    ap.add_argument("--opacity", type=float, help="draw every clip at this opacity (default: each clip's own, 0.8-1)")
    ap.add_argument("--within", action="store_true", help="draft inside the box localization gives the drafting part")
    ap.add_argument("--unknown", type=Path, help="a bench/localization.py --json run: draft its unknown_skin videos instead")
    ap.add_argument("--work", type=Path, help="with --unknown: that run's --work folder (the corpora)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.unknown is not None:
        if args.work is None:
            ap.error("--unknown needs --work, the localization run's corpora")
        rows = unknown_skin_drafts(args.unknown, args.work)
        if args.json:
            print(json.dumps(rows, indent=2))
        return
    parser = None
    if args.parser is not None:
        from models.overlay_parser import load_parser  # torch: only the --parser reading needs it

        parser = load_parser(args.parser)
    cfg = ExtractConfig()
    library = load_library()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(CLIPS[: args.clips]):
            started = time.perf_counter()
            folder = Path(tmp) / str(i)
            folder.mkdir()
            skin, (draft_clip, measure_clip), truth, box, visible, scale = render(spec, args.frames, folder, 100 + i, args.opacity)
            row = {"skin": skin.id, "game": spec[1], "overlay_px": box[2] - box[0], "opacity": args.opacity or spec[4]}
            within = None
            if args.within:
                seen = localize_overlay(draft_clip, library, LocalizeConfig())
                within = tuple(seen.box) if seen.box is not None and (seen.found or seen.unknown_skin) else None
                row.update(within_outcome=seen.outcome, within_iou=round(box_iou(within, box), 3) if within else None)
            try:
                draft = draft_skin(draft_clip, DraftSettings(frames=args.frames, within=within))
            except ValueError as exc:
                rows.append({**row, "error": str(exc)})
                continue
            names = true_names(draft, skin, box, scale)
            row.update(regions=len(draft.regions), named=len(names), draft_box_iou=round(box_iou(draft.box, visible), 3))
            loc = localize_overlay(measure_clip, library, LocalizeConfig())
            row["true_iou"] = round(box_iou(loc.box, box), 3) if loc.found else 0.0
            row["true_skin_named"] = loc.skin_id
            found = find_rest(measure_clip, draft.rest)
            row["drafted_iou"] = round(box_iou(found, visible), 3)
            if names:
                drafted = named_skin(draft, names, folder / "skin", f"drafted-{i}")
                truth_b = truth[:, :N_BUTTONS] > 0.5
                seen = [k for k, b in enumerate(BUTTONS) if b in drafted.observed]
                true_t = loc.matrix if loc.found else placement_transform(box, skin.size)
                draft_t = placement_transform(found, drafted.size)
                row["named_buttons"] = [BUTTONS[k] for k in seen]
                readers = {"look": lambda v, t, sk: look_reader(v, t, sk)}
                if parser is not None:
                    readers["parser"] = lambda v, t, sk: read(v, t, sk, parser, cfg)[:, :N_BUTTONS] > 0.5
                for reader, fn in readers.items():
                    true_b, draft_b = fn(measure_clip, true_t, skin), fn(measure_clip, draft_t, drafted)
                    draft_b[:, [k for k in range(N_BUTTONS) if k not in seen]] = False  # undrawn: "not pressed"
                    row[f"{reader}_f1_true"] = round(f1(true_b, truth_b), 3)
                    row[f"{reader}_f1_drafted"] = round(f1(draft_b, truth_b), 3)
                    if seen:
                        row[f"{reader}_f1_true_named"] = round(f1(true_b[:, seen], truth_b[:, seen]), 3)
                        row[f"{reader}_f1_drafted_named"] = round(f1(draft_b[:, seen], truth_b[:, seen]), 3)
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    keys = ("skin", "within_outcome", "regions", "named", "draft_box_iou", "true_iou", "drafted_iou", "look_f1_true", "look_f1_drafted",
            "look_f1_true_named", "look_f1_drafted_named", "parser_f1_true", "parser_f1_drafted")
    print("  ".join(keys))
    for r in rows:
        print("  ".join(str(r.get(k, r.get("error", ""))) for k in keys))


if __name__ == "__main__":
    main()
