"""Real OBS input-overlay presets, drawn as the plugin draws them over gameplay, read by padflow's extraction.

    python bench/real_overlays.py --input-overlay /work/ext/input-overlay [--parser DIR] [--frames 60]
                                  [--presets SUBSTRING ...] [--tune-presets FOLDER ...] [--seed 0]
                                  [--skip-unknown] [--looks] [--json] [--write-doc] [--save-json F [--keep-readings]] [--keep-videos DIR]
    python bench/real_overlays.py --from-json F [--refinish | --reread-looks DIR] [--write-doc] [--save-json G]

The plugin's repository (github.com/univrsal/input-overlay) is third-party material: fetch it to a
folder outside the project and pass its path; the bench skips (exit 0, with a message) when the
path is absent. Every preset JSON under `presets/` with a gamepad element (button, analog stick,
trigger, gamepad id, d-pad) is used, with one atlas PNG of its folder (the same stem, else the one
sharing most name words, then the shortest name). No preset is ever part of padflow's training renders.

Per preset, one clip: gameplay of one of several games (random-player runs of real game frames,
padflow.players.footage.collect_backgrounds), the games taken in turn, at 1280x720, 960x540 or
854x480; the preset drawn at 12-30 % of the frame width, opacity 0.6-1, in a random corner;
`--frames` frames at 30 fps, H.264 (padflow.video.write_mp4, crf 20-28). The shown actions are
padflow.overlay.synth.random_actions (every button and both sticks move), with opposite d-pad
directions never held together (a physical d-pad cannot report them).

The overlay is drawn by `PluginDrawing`, a renderer written here from the plugin's source rules
(padflow/overlay/input_overlay.py cites them) and NOT padflow's renderer: the bench measures
padflow against another hand's drawing. The preset canvas is drawn at its own resolution
(premultiplied "over", sticks at sub-pixel positions, bilinear) and scaled to its on-screen width
(point filtering for pixel-art presets, as their READMEs ask, area filtering otherwise).

Extraction is padflow's: localization (params extract.localize) and the overlay parser (`--parser`,
default params extract.parser_dir) with extract's button calibration and stick normalization, run
twice per clip:
  (a) library = the built-in skins only: what a user gets before adding the preset. Any skin named
      is a wrong skin; "unknown_skin" (no library skin explains the overlay) is the right answer.
  (b) library = the built-in skins + every preset imported with `padflow skins import-input-overlay`
      (padflow.overlay.input_overlay, held out): the library of a user who imported the repository's
      presets. The right skin must be told from its siblings (colour variants, with/without sticks).
Scores: IoU of the located box with the drawn canvas; button F1 (pooled over frames and the
buttons the preset draws), accuracy, and the accuracy of "nothing pressed" for scale; stick R²
(per axis pooled over frames, mean over the axes the preset draws). Controls the preset does not
draw are not scored. With `--looks`, each overlay found in (b) is also read without the parser, by
drawing its skin in every state of each control and taking the state that explains the frame best
(padflow.overlay.look_reader), scored the same way ("looks" columns), and the table it makes judged by the gate's suite as
the pipeline would judge it ("looks gate"; the summary's looks_accepted means are over the accepted clips; controls the
video cannot show, which the table marks unobserved, are listed there, and the summary's looks_shown_only means leave them out). Prints a table (or JSON); `--write-doc` writes it to docs/results-real-overlays.md; `--save-json`
keeps every row, and `--from-json` prints (or writes) the table of a saved run again. `--skip-unknown` leaves run (a) out
(half the time, when only the reading is measured).

Tuning vs report (issue 19 item 6): the presets split by folder into a *tuning* set (`--tune-presets`, default
TUNE_FOLDERS), on which extraction thresholds may be chosen (bench/reading_rules.py), and a *report* set (every other
preset), on which they are only reported; each row and the summary say which set. `--keep-readings` stores each clip's
raw parser readings (actions, button logits), the look reader's actions and the shown actions in the saved JSON, and `--from-json F --refinish`
re-applies today's reading rules (padflow.overlay.readings.finish_actions with params extract) to them and scores again,
keeping the saved scores as "before": a change to the rules measured on the same parser output. A run saved with
`--keep-readings --keep-videos DIR --looks` can be read again by today's look reader with `--from-json F --reread-looks
DIR` (each kept clip at its saved pose, no clip drawn or parser run: a change to the reader measured on the same clips;
each clip's change and the means before -> after go to stderr).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from padflow.actions import AXIS_INDEX, BUTTON_INDEX
from padflow.config import from_mapping, load_params, project_root
from padflow.expectations import TableValidator, reading_reasons
from padflow.overlay.crops import box_iou
from padflow.overlay.input_overlay import PresetWarning, import_preset
from padflow.overlay.readable import readable_controls
from padflow.overlay.library import load_library
from padflow.overlay.localize import LocalizeConfig, build_index, localize_overlay
from padflow.overlay.look_reader import read_by_looks
from padflow.overlay.readings import finish_actions
from padflow.overlay.scoring import reading_scores
from padflow.overlay.synth import physical_dpad, random_actions
from padflow.players.footage import DISPLAY_ASPECT, collect_backgrounds, fit_to_upload
from padflow.sim import all_tasks
from padflow.video import write_mp4
from tasks.extract import ExtractConfig, read_by_parser, unobserved_controls
from tasks.gate import GateConfig

GAMES = ("pong_hold_15s", "ms_pacman_eat_30_dots", "boxing_score_10", "freeway_cross_once", "doom_basic_first_shot")
RESOLUTIONS = ((1280, 720), (960, 540), (854, 480))
WIDTH_FRAC, OPACITY, CRF = (0.12, 0.30), (0.6, 1.0), (20, 28)
MARGIN_FRAC = 0.02
FPS = 30.0
IOU_FLOOR = 0.8
PAD_TYPES = {2, 5, 6, 7, 8}  # gamepad button, analog stick, trigger, gamepad id, d-pad
PIXEL_ART_SIDE = 64  # px; presets whose canvas is no longer than this are pixel art (point filtering)
BORDER = 3  # px between sprites in an input-overlay atlas
# Preset folders whose clips may tune extraction thresholds; every other preset is report-only. Split by folder so
# a preset's colour/analog siblings fall on one side; 7 clips with sticks on each side.
TUNE_FOLDERS = ("Xbox KBA minimal", "arcade-stick", "ds3", "f710", "gameboy-pixel", "gamepad", "hitbox", "nes", "nes-pixel")
# padflow button → SDL3 gamepad button index (SDL_gamepad.h), for the plugin's button state
SDL_INDEX = {"SOUTH": 0, "EAST": 1, "WEST": 2, "NORTH": 3, "BACK": 4, "GUIDE": 5, "START": 6, "LEFT_THUMB": 7, "RIGHT_THUMB": 8,
             "LEFT_SHOULDER": 9, "RIGHT_SHOULDER": 10, "DPAD_UP": 11, "DPAD_DOWN": 12, "DPAD_LEFT": 13, "DPAD_RIGHT": 14}  # fmt: skip
# Pre-SDL codes as the plugin's config tool rewrites them (docs/cct/js/vc.js), so legacy presets light up.
LEGACY = {0xEC00 + n: sdl for n, sdl in enumerate((0, 1, 2, 3, 9, 10, 4, 6, 5, 7, 8, 13, 14, 11, 12))}


class PluginDrawing:
    """One preset drawn element by element as the plugin's draw() methods do, on a canvas that holds every sprite."""

    def __init__(self, preset: dict[str, Any], atlas_rgba: np.ndarray) -> None:
        self.elements = [e for e in preset["elements"] if e.get("type") in (0, 2, 5, 6, 7, 8)]
        w0, h0 = preset["overlay_width"], preset["overlay_height"]
        x0, y0, x1, y1 = 0, 0, w0, h0
        need_w, need_h = atlas_rgba.shape[1], atlas_rgba.shape[0]
        for e in self.elements:
            (px, py), (u, v, w, h) = e["pos"], e["mapping"]
            r = e.get("stick_radius", 0) if e["type"] == 5 else 0
            x0, y0, x1, y1 = min(x0, px - r), min(y0, py - r), max(x1, px + w + r), max(y1, py + h + r)
            need_w = max(need_w, u + 9 * (w + BORDER))  # the widest strip any element reads (d-pad: 9 sprites)
            need_h = max(need_h, v + 2 * h + BORDER)
        self.origin = (-x0, -y0)
        self.size = (x1 - x0, y1 - y0)
        self.pixel_art = max(w0, h0) <= PIXEL_ART_SIDE
        a = atlas_rgba.astype(np.float32) / 255.0
        a[..., :3] *= a[..., 3:4]  # OBS loads the atlas premultiplied (GS_IMAGE_ALPHA_PREMULTIPLY)
        # OBS samples with clamped addressing: texels past the atlas repeat its edge.
        self.atlas = np.pad(a, ((0, need_h - a.shape[0]), (0, need_w - a.shape[1]), (0, 0)), mode="edge")

    def draw(self, action: np.ndarray) -> np.ndarray:
        """(H, W, 4) float32 premultiplied canvas of one padflow action."""
        buttons = np.zeros(26, bool)
        for name, i in SDL_INDEX.items():
            buttons[i] = action[BUTTON_INDEX[name]] > 0.5
        # SDL axes: LEFTX, LEFTY, RIGHTX, RIGHTY (y down), LEFT_TRIGGER, RIGHT_TRIGGER
        axes = [action[AXIS_INDEX["LEFT_X"]], -action[AXIS_INDEX["LEFT_Y"]], action[AXIS_INDEX["RIGHT_X"]], -action[AXIS_INDEX["RIGHT_Y"]],
                action[BUTTON_INDEX["LEFT_TRIGGER"]], action[BUTTON_INDEX["RIGHT_TRIGGER"]]]  # fmt: skip
        canvas = np.zeros((self.size[1], self.size[0], 4), np.float32)
        for e in self.elements:
            pos, (u, v, w, h) = e["pos"], e["mapping"]
            pressed = (u, v + h + BORDER, w, h)
            t = e["type"]
            if t == 0:
                self._blit(canvas, (u, v, w, h), pos)
            elif t == 2:
                code = LEGACY.get(e["code"], e["code"])
                self._blit(canvas, pressed if code < 26 and buttons[code] else (u, v, w, h), pos)
            elif t == 5:
                left = e["side"] == 0
                dx, dy = (axes[0], axes[1]) if left else (axes[2], axes[3])
                r = e["stick_radius"]
                self._blit(canvas, pressed if buttons[7 if left else 8] else (u, v, w, h), (pos[0] + dx * r, pos[1] + dy * r))
            elif t == 6:
                progress = axes[4] if e["side"] == 0 else axes[5]
                if e.get("trigger_mode"):
                    self._blit(canvas, pressed if progress >= 0.1 else (u, v, w, h), pos)
                else:
                    self._blit(canvas, (u, v, w, h), pos)
                    pu, pv, pw, ph = pressed
                    px, py = pos
                    d = e.get("direction", 0)
                    if d == 1:
                        ph = int(h * progress)
                        pv, py = pv + (h - ph), py + (h - ph)
                    elif d == 2:
                        ph = int(h * progress)
                    elif d == 3:
                        pw = int(w * progress)
                        pu, px = pu + (w - pw), px + (w - pw)
                    elif d == 4:
                        pw = int(w * progress)
                    if pw > 0 and ph > 0:
                        self._blit(canvas, (pu, pv, pw, ph), (px, py))
            elif t == 8:
                i = _dpad_sprite(buttons)
                self._blit(canvas, (u + (i + 1) * (w + BORDER), v, w, h) if i >= 0 else (u, v, w, h), pos)
            elif t == 7:
                if buttons[5]:
                    self._blit(canvas, (u + 4 * (w + BORDER), v, w, h), pos)
                self._blit(canvas, (u + 1 * (w + BORDER), v, w, h), pos)  # player one: m_mappings[0]
        return canvas

    def _blit(self, canvas: np.ndarray, rect: tuple[int, int, int, int], pos: tuple[float, float]) -> None:
        u, v, w, h = rect
        sprite = self.atlas[v : v + h, u : u + w]
        x, y = pos[0] + self.origin[0], pos[1] + self.origin[1]
        ix, iy = math.floor(x), math.floor(y)
        if x != ix or y != iy:  # sub-pixel: bilinear, as the GPU samples a translated quad
            m = np.array([[1.0, 0.0, x - ix], [0.0, 1.0, y - iy]])
            sprite = cv2.warpAffine(sprite, m, (w + 1, h + 1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        H, W = canvas.shape[:2]
        cx0, cy0, cx1, cy1 = max(0, ix), max(0, iy), min(W, ix + sprite.shape[1]), min(H, iy + sprite.shape[0])
        if cx1 <= cx0 or cy1 <= cy0:
            return
        src = sprite[cy0 - iy : cy1 - iy, cx0 - ix : cx1 - ix]
        dst = canvas[cy0:cy1, cx0:cx1]
        dst *= 1.0 - src[..., 3:4]  # blend ONE, INVSRCALPHA
        dst += src


def _dpad_sprite(b: np.ndarray) -> int:
    """The plugin's get_direction: index into left, right, up, down, up-left, up-right, down-left, down-right; -1 none."""
    up, down, left, right = b[11], b[12], b[13], b[14]
    if up:
        return 4 if left else 5 if right else 2
    if down:
        return 6 if left else 7 if right else 3
    if right:
        return 5 if up else 7 if down else 1
    if left:
        return 4 if up else 6 if down else 0
    return -1


def composite(frame: np.ndarray, canvas: np.ndarray, box: tuple[int, int, int, int], opacity: float, nearest: bool) -> np.ndarray:
    """The canvas scaled into `box` of the frame, over it, at `opacity`."""
    x0, y0, x1, y1 = box
    scaled = cv2.resize(canvas, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    out = frame.astype(np.float32) / 255.0
    region = out[y0:y1, x0:x1]
    region *= 1.0 - opacity * scaled[..., 3:4]
    region += opacity * scaled[..., :3]
    return (out * 255.0).round().clip(0, 255).astype(np.uint8)


def gamepad_presets(repo: Path) -> list[Path]:
    out = []
    for path in sorted((repo / "presets").rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and any(isinstance(e, dict) and e.get("type") in PAD_TYPES for e in data.get("elements") or []):
            out.append(path)
    return out


def pick_atlas(preset: Path) -> Path:
    same = preset.with_suffix(".png")
    if same.is_file():
        return same
    words = set(re.split(r"[-_ .]+", preset.stem.lower()))
    pngs = sorted(preset.parent.glob("*.png"))
    if not pngs:
        raise ValueError(f"{preset}: no atlas PNG in its folder")
    return min(pngs, key=lambda p: (-len(words & set(re.split(r"[-_ .]+", p.stem.lower()))), len(p.name), p.name))


def skin_id(repo: Path, preset: Path) -> str:
    rel = preset.relative_to(repo / "presets").with_suffix("")
    return "io-" + re.sub(r"[^a-z0-9]+", "-", "-".join(rel.parts).lower()).strip("-")


def preset_set(repo: Path, preset: Path, tune_folders: tuple[str, ...]) -> str:
    """"tune" when the preset's folder (its first part under presets/) is a tuning folder, else "report"."""
    return "tune" if preset.relative_to(repo / "presets").parts[0] in tune_folders else "report"


def extract(video: Path, library: Any, cfg: LocalizeConfig, parser: Any, ext: ExtractConfig, truth_box: tuple, shown: np.ndarray,
            observed: frozenset[str], keep_readings: bool = False, gate: TableValidator | None = None) -> dict[str, Any]:  # fmt: skip
    loc = localize_overlay(video, library, cfg)
    outcome = getattr(loc, "outcome", "found" if loc.found else "no_overlay")
    row: dict[str, Any] = {"outcome": outcome, "skin": loc.skin_id, "nearest": getattr(loc, "nearest_skin", None),
                           "iou": round(box_iou(loc.box, truth_box), 3) if loc.box else None, "reason": loc.reason}  # fmt: skip
    if loc.found:
        if keep_readings:
            row["matrix"] = np.round(np.asarray(loc.matrix, np.float64), 6).tolist()
        try:
            read = read_by_parser(video, loc.matrix, library.skins[loc.skin_id], parser, ext)
            parsed = read.parsed
            row.update(reading_scores(read.actions, shown, observed))
            if keep_readings:
                row["readings"] = {"raw": np.round(parsed.actions, 4).tolist(), "logits": np.round(parsed.button_logits, 3).tolist(), "shown": shown.tolist(),
                                   "cap_axes": np.round(parsed.caps[0], 4).tolist(), "cap_match": np.round(parsed.caps[1], 4).tolist()}
        except Exception as exc:  # the bench reports a reading that fails instead of stopping
            row["parse_error"] = f"{type(exc).__name__}: {exc}"[:200]
        if gate is not None:
            row["looks"], actions = read_looks(video, loc.matrix, library.skins[loc.skin_id], shown, observed, gate, ext.decode_threads)
            if keep_readings:
                row["looks"]["read"] = np.round(actions, 3).tolist()
    return row


def read_looks(video: Path, matrix: Any, skin: Any, shown: np.ndarray, observed: frozenset[str], gate: TableValidator,
               decode_threads: int = 0) -> tuple[dict[str, Any], np.ndarray]:  # fmt: skip
    """A clip read by drawing its skin (padflow.overlay.look_reader): its scores, seconds and the gate's quarantine reasons
    for the table extract would write ([] = accepted), and the actions read."""
    started = time.perf_counter()
    reading = read_by_looks(video, np.asarray(matrix), skin, decode_threads)
    seconds = round(time.perf_counter() - started, 1)
    reasons = reading_reasons(gate, video.stem, reading.actions, reading.confidence, reading.fps, (*unobserved_controls(skin), *reading.unseen))
    shown_only = reading_scores(reading.actions, shown, observed - frozenset(reading.unseen))  # as the table has them: unseen controls unobserved
    return {**reading_scores(reading.actions, shown, observed), "seconds": seconds, "gate": reasons, "unseen": list(reading.unseen),
            "shown_only": shown_only}, reading.actions  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input-overlay", type=Path, help="checkout of github.com/univrsal/input-overlay (outside the project)")
    ap.add_argument("--parser", type=Path, help="trained overlay parser folder (default: params extract.parser_dir)")
    ap.add_argument("--frames", type=int, default=60, help="frames per clip (30 fps)")
    ap.add_argument("--presets", nargs="*", default=[], help="only presets whose path contains one of these")
    ap.add_argument("--tune-presets", nargs="*", default=list(TUNE_FOLDERS), help="preset folders of the tuning set (the rest: report set)")
    ap.add_argument("--skip-unknown", action="store_true", help="leave out run (a), the built-in library only")
    ap.add_argument("--looks", action="store_true", help="in run (b), also read each found overlay by drawing its skin (padflow.overlay.look_reader)")
    ap.add_argument("--keep-readings", action="store_true", help="store each clip's raw readings in --save-json (for --refinish and bench/reading_rules.py)")
    ap.add_argument("--keep-videos", type=Path, help="also keep each clip (<skin id>.mp4) and the imported skins (skins/) in this folder, for diagnosis")
    ap.add_argument("--refinish", action="store_true", help="with --from-json: apply today's reading rules to the saved readings and score again")
    ap.add_argument("--reread-looks", type=Path, help="with --from-json: read the clips kept in this folder (--keep-videos) again by today's look reader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--commit", help="the checkout's commit, when it is not a git working tree (printed as the source)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write-doc", action="store_true", help="write the table to docs/results-real-overlays.md")
    ap.add_argument("--save-json", type=Path, help="also write the full result (every row) as JSON to this file")
    ap.add_argument("--from-json", type=Path, help="print (and with --write-doc write) the table of a run saved with --save-json")
    args = ap.parse_args()
    if args.from_json:
        result = json.loads(args.from_json.read_text())
        if args.refinish:
            refinish(result)
        if args.reread_looks:
            reread_looks(result, args.reread_looks)
        if args.save_json:
            args.save_json.write_text(json.dumps(result, indent=2))
        # runs saved before the command was recorded: rebuild it from what they did record
        command = result.get("command") or (f"--input-overlay CHECKOUT --parser {result['parser']} --frames {result['frames']} "
                                            f"--seed {result['seed']} --commit {result['source'].rsplit(' @ ', 1)[-1]}")  # fmt: skip
        again = (" --refinish" if args.refinish else "") + (f" --reread-looks {args.reread_looks}" if args.reread_looks else "")
        text = table(result, command, f" Table written by `python bench/real_overlays.py --from-json {args.from_json.name}{again} --write-doc` from that run's saved rows"
                     + (f" (reading rules of today applied again to its saved parser readings; 'before': {result.get('before_rules', 'the rules it ran with')})" if args.refinish else "")
                     + (" (its kept clips read again by today's look reader)" if args.reread_looks else "") + ".")  # fmt: skip
        print(text)
        if args.write_doc:
            (project_root() / "docs" / "results-real-overlays.md").write_text(text + "\n")
        return 0
    if args.input_overlay is None:
        ap.error("--input-overlay (or --from-json) is required")
    repo = args.input_overlay
    if not (repo / "presets").is_dir():
        print(f"skipped: {repo} is not a checkout of univrsal/input-overlay (no presets/ folder); "
              "fetch github:univrsal/input-overlay to a folder outside the project and pass it", file=sys.stderr)  # fmt: skip
        return 0
    root = project_root()
    params = load_params(root / "params.yaml")
    ext = from_mapping(ExtractConfig, params.get("extract"), "extract")
    cfg = from_mapping(LocalizeConfig, (params.get("extract") or {}).get("localize"), "extract.localize")
    parser_dir = args.parser or root / ext.parser_dir
    from models.overlay_parser import load_parser  # local: torch loads only once the arguments are checked

    parser = load_parser(parser_dir)
    gate = gate_judge() if args.looks else None
    presets = [p for p in gamepad_presets(repo) if not args.presets or any(s in str(p) for s in args.presets)]
    commit = args.commit or subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown commit"
    rng = np.random.default_rng(args.seed)
    tasks = all_tasks()
    started = time.perf_counter()
    runs = collect_backgrounds(GAMES, args.frames, 2, args.seed)
    builtin = load_library([])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        skins = Path(tmp) / "skins"
        imported: dict[Path, Any] = {}
        for preset_path in presets:
            atlas_path, sid = pick_atlas(preset_path), skin_id(repo, preset_path)
            row: dict[str, Any] = {"preset": str(preset_path.relative_to(repo)), "atlas": atlas_path.name, "skin_id": sid,
                                   "set": preset_set(repo, preset_path, tuple(args.tune_presets))}  # fmt: skip
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", PresetWarning)
                try:
                    imported[preset_path] = import_preset(preset_path, skins, atlas_path, sid, held_out=True)
                    row.update(imported=True, observed=len(imported[preset_path].skin.observed), sticks=len(imported[preset_path].skin.sticks))
                except ValueError as exc:
                    row.update(imported=False, error=str(exc))
            row["skipped"] = [str(w.message).split(": ", 1)[1] for w in caught]
            if row["imported"]:
                try:  # a skin no fit could ever name stops extract, as `padflow skins add` refuses it: its clip is read without it
                    build_index((imported[preset_path].skin,), cfg)
                except ValueError as exc:
                    row["skipped"].append(f"left out of the library (extract could never find it): {str(exc).split(': ', 1)[1]}")
                    for path in (imported[preset_path].skin.layout_path, imported[preset_path].skin.image_path):
                        path.unlink()
            rows.append(row)
        with_presets = load_library([skins]) if imported else builtin
        for k, (preset_path, row) in enumerate((p, r) for p, r in zip(presets, rows) if r["imported"]):
            atlas_path, sid = preset_path.parent / row["atlas"], row["skin_id"]
            game = GAMES[k % len(GAMES)]
            width, height = RESOLUTIONS[k % len(RESOLUTIONS)]
            drawing = PluginDrawing(json.loads(preset_path.read_text()), np.asarray(Image.open(atlas_path).convert("RGBA")))
            ow = round(rng.uniform(*WIDTH_FRAC) * width)
            oh = round(ow * drawing.size[1] / drawing.size[0])
            margin = round(MARGIN_FRAC * width)
            x0 = margin if rng.random() < 0.5 else width - margin - ow
            y0 = margin if rng.random() < 0.5 else height - margin - oh
            box = (x0, y0, x0 + ow, y0 + oh)
            opacity, crf = float(rng.uniform(*OPACITY)), int(rng.integers(CRF[0], CRF[1] + 1))
            shown = physical_dpad(random_actions(args.frames, rng))
            aspect = DISPLAY_ASPECT.get(tasks[game].engine)
            video = Path(tmp) / f"{sid}.mp4"
            frames = (composite(fit_to_upload(runs[k % len(GAMES)][t], width, height, aspect)[0], drawing.draw(shown[t]), box, opacity, drawing.pixel_art)
                      for t in range(args.frames))  # fmt: skip
            write_mp4(video, frames, FPS, crf=crf)
            if args.keep_videos:
                args.keep_videos.mkdir(parents=True, exist_ok=True)
                shutil.copy(video, args.keep_videos / video.name)
            row.update(game=game, frame=[width, height], width_frac=round(ow / width, 3), opacity=round(opacity, 2), crf=crf)
            observed = readable_controls(imported[preset_path].skin)  # what a table made with the skin labels
            row["observed_controls"] = sorted(observed)
            if not args.skip_unknown:
                row["a"] = extract(video, builtin, cfg, parser, ext, box, shown, observed)
            row["b"] = extract(video, with_presets, cfg, parser, ext, box, shown, observed, args.keep_readings, gate)
            print(f"{sid}: b {row['b']['outcome']} {row['b']['skin']} iou {row['b']['iou']} F1 {row['b'].get('button_f1')} R2 {row['b'].get('stick_r2')}", file=sys.stderr)
        if args.keep_videos:
            shutil.copytree(skins, args.keep_videos / "skins", dirs_exist_ok=True)
    result = {"command": " ".join(sys.argv[1:]), "source": f"github.com/univrsal/input-overlay @ {commit}", "parser": str(parser_dir),
              "frames": args.frames, "seed": args.seed, "tune_folders": list(args.tune_presets),
              "seconds": round(time.perf_counter() - started, 1), "summary": summary(rows), "rows": rows}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result, result["command"]))
    if args.save_json:
        args.save_json.write_text(json.dumps(result, indent=2))
    if args.write_doc:
        (root / "docs" / "results-real-overlays.md").write_text(table(result, result["command"]) + "\n")
    return 0


def refinish(result: dict[str, Any]) -> None:
    """Apply today's reading rules (params extract) to every saved clip's raw readings and score again; the saved scores become "before"."""
    ext = from_mapping(ExtractConfig, load_params(project_root() / "params.yaml").get("extract"), "extract")
    for r in result["rows"]:
        b = r.get("b") or {}
        readings = b.get("readings")
        if readings is None:
            continue
        observed = frozenset(r["observed_controls"])
        caps = (np.asarray(readings["cap_axes"], np.float32), np.asarray(readings["cap_match"], np.float32)) if "cap_axes" in readings else None  # runs before the cap locator kept none
        actions, _ = finish_actions(np.asarray(readings["raw"], np.float32), np.asarray(readings["logits"], np.float32), ext, caps)
        before = {k: b[k] for k in ("button_f1", "button_accuracy", "stick_r2") if k in b}
        b.update(reading_scores(actions, np.asarray(readings["shown"], np.float32), observed), before=b.get("before", before))
    result["summary"] = summary(result["rows"])


def gate_judge() -> TableValidator:
    """The gate's suite with the project's `gate` settings, to judge each look-reader table as the pipeline would."""
    return TableValidator(from_mapping(GateConfig, load_params(project_root() / "params.yaml").get("gate"), "gate"))


def reread_looks(result: dict[str, Any], kept: Path) -> None:
    """Read every clip kept in `kept` (`--keep-videos`) again by today's look reader at the saved pose, and score it; the saved look scores become "before"."""
    library = load_library([kept / "skins"])
    gate = gate_judge()
    keys = ("button_f1", "button_accuracy", "stick_r2")
    for r in result["rows"]:
        b = r.get("b") or {}
        if "looks" not in b or "matrix" not in b or "readings" not in b:
            continue
        before = {k: b["looks"].get(k) for k in keys}
        shown = np.asarray(b["readings"]["shown"], np.float32)
        looks, _ = read_looks(kept / f"{r['skin_id']}.mp4", b["matrix"], library.skins[b["skin"]], shown, frozenset(r["observed_controls"]), gate)
        b["looks"] = {**looks, "before": before}
        print(f"{r['skin_id']}: looks " + ", ".join(f"{k} {before[k]} -> {b['looks'].get(k)}" for k in keys), file=sys.stderr)
    done = [r["b"]["looks"] for r in result["rows"] if "before" in (r.get("b") or {}).get("looks", {})]
    for k in keys:
        pairs = [(d["before"][k], d[k]) for d in done if d.get(k) is not None and d["before"][k] is not None]
        if pairs:
            print(f"mean {k} over {len(pairs)} clips: {np.mean([p[0] for p in pairs]):.3f} -> {np.mean([p[1] for p in pairs]):.3f}", file=sys.stderr)
    result["summary"] = summary(result["rows"])


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in rows if r.get("imported") and "b" in r]
    a = [r["a"] for r in done if "a" in r]

    def mean(values: list[Any]) -> float | None:
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 3) if values else None

    out: dict[str, Any] = {"presets": len(rows), "imported": sum(bool(r.get("imported")) for r in rows), "clips": len(done)}
    if a:
        out.update(a_wrong_skin_named=sum(x["outcome"] == "found" for x in a), a_unknown_skin=sum(x["outcome"] == "unknown_skin" for x in a),
                   a_no_overlay=sum(x["outcome"] == "no_overlay" for x in a))  # fmt: skip
    out.update(b_localized=sum(r["b"]["iou"] is not None and r["b"]["iou"] >= IOU_FLOOR and r["b"]["outcome"] == "found" for r in done),
               b_right_skin=sum(r["b"]["skin"] == r["skin_id"] for r in done))  # fmt: skip
    for name in ("all", "tune", "report"):
        b = [r["b"] for r in done if name == "all" or r.get("set") == name]
        if not b:
            continue
        tag = "b" if name == "all" else f"b_{name}"
        out[f"{tag}_button_f1_mean"] = mean([x.get("button_f1") for x in b])
        out[f"{tag}_button_accuracy_mean"] = mean([x.get("button_accuracy") for x in b])
        out[f"{tag}_nothing_pressed_accuracy_mean"] = mean([x.get("nothing_pressed_accuracy") for x in b])
        out[f"{tag}_stick_r2_mean"] = mean([x.get("stick_r2") for x in b])
        if any("before" in x for x in b):
            out[f"{tag}_button_f1_before_mean"] = mean([x.get("before", {}).get("button_f1") for x in b])
            out[f"{tag}_stick_r2_before_mean"] = mean([x.get("before", {}).get("stick_r2") for x in b])
        if any("looks" in x for x in b):
            looks = [x["looks"] for x in b if "looks" in x]
            out[f"{tag}_looks_button_f1_mean"] = mean([x.get("button_f1") for x in looks])
            out[f"{tag}_looks_button_accuracy_mean"] = mean([x.get("button_accuracy") for x in looks])
            out[f"{tag}_looks_stick_r2_mean"] = mean([x.get("stick_r2") for x in looks])
            if any("unseen" in x for x in looks):  # runs saved before the reader said what a video cannot show have none
                out[f"{tag}_looks_unseen_controls"] = sum(len(x.get("unseen", [])) for x in looks)
                out[f"{tag}_looks_shown_only_button_f1_mean"] = mean([x["shown_only"].get("button_f1") for x in looks if "shown_only" in x])
                out[f"{tag}_looks_shown_only_stick_r2_mean"] = mean([x["shown_only"].get("stick_r2") for x in looks if "shown_only" in x])
            if any("gate" in x for x in looks):  # runs saved before the gate's verdict was recorded have none
                accepted = [x for x in looks if x.get("gate") == []]
                out[f"{tag}_looks_gate_accepted"] = f"{len(accepted)} of {len(looks)}"
                out[f"{tag}_looks_accepted_button_f1_mean"] = mean([x.get("button_f1") for x in accepted])
                out[f"{tag}_looks_accepted_stick_r2_mean"] = mean([x.get("stick_r2") for x in accepted])
    return out


def table(result: dict[str, Any], command: str, provenance: str = "") -> str:
    fmt = lambda v: "–" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    before = any("before" in (r.get("b") or {}) for r in result["rows"])
    looks = any("looks" in (r.get("b") or {}) for r in result["rows"])
    lines = [
        "# Real input-overlay presets: localization and reading (bench/real_overlays.py)",
        "",
        f"Generated by `python bench/real_overlays.py {command}`. Source: {result['source']} (third-party, "
        f"kept outside the project; never in training). Parser: {result['parser']}. {result['frames']} frames per clip, "
        f"seed {result['seed']}, {result['seconds']} s.{provenance}",
        "",
        "(a) built-in library only (the preset unknown to padflow: naming any skin is wrong); "
        "(b) built-ins + every imported preset. F1/accuracy over the buttons the preset draws; "
        "'none' = accuracy of reading nothing pressed; R² = mean over the stick axes it draws. "
        "set: 'tune' presets may choose extraction thresholds (bench/reading_rules.py), 'report' presets never do."
        + (" 'before': the same parser readings under the reading rules the run was made with." if before else "")
        + (" 'looks': the same video read by drawing the found skin in every state of each control (padflow.overlay.look_reader), no parser: what extract's default reader (`auto`) reads an imported preset with; 'looks gate': the gate's verdict on the table it makes (params.yaml `gate`, the localization check left out), and the summary's looks_accepted means are over the accepted clips: what the pipeline would train on." if looks else ""),
        "",
        "| preset | set | atlas | game | width | opacity | (a) outcome | (a) skin named | (b) IoU | (b) skin | F1 | acc | none | stick R² |"
        + (" F1 before | R² before |" if before else "") + (" looks F1 | looks acc | looks R² | looks gate |" if looks else ""),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if before else "") + ("---|---|---|---|" if looks else ""),
    ]
    for r in result["rows"]:
        if not r.get("imported"):
            lines.append(f"| {r['preset']} | {r.get('set', '–')} | {r['atlas']} | import failed: {r.get('error', '')[:80]} |||||||||||")
            continue
        a, b = r.get("a") or {"outcome": "not run", "skin": None}, r["b"]
        skin_b = "right" if b["skin"] == r["skin_id"] else (b["skin"] or b["outcome"])
        err = f" ({b['parse_error'][:60]})" if "parse_error" in b else ""
        line = (f"| {r['preset']} | {r.get('set', '–')} | {r['atlas']} | {r['game']} | {r['width_frac']:.2f} | {r['opacity']:.2f} | {a['outcome']} | "
                f"{a['skin'] or a.get('nearest') or '–'} | {fmt(b['iou'])} | {skin_b}{err} | {fmt(b.get('button_f1'))} | "
                f"{fmt(b.get('button_accuracy'))} | {fmt(b.get('nothing_pressed_accuracy'))} | {fmt(b.get('stick_r2'))} |")  # fmt: skip
        if before:
            line += f" {fmt(b.get('before', {}).get('button_f1'))} | {fmt(b.get('before', {}).get('stick_r2'))} |"
        if looks:
            read = b.get("looks") or {}
            verdict = ("–" if "gate" not in read else ", ".join(read["gate"]) or "accepted") + (f"; unseen {', '.join(read['unseen'])}" if read.get("unseen") else "")
            line += f" {fmt(read.get('button_f1'))} | {fmt(read.get('button_accuracy'))} | {fmt(read.get('stick_r2'))} | {verdict} |"
        lines.append(line)
    s = result["summary"]
    lines += ["", "Summary: " + ", ".join(f"{k} {fmt(v)}" for k, v in s.items()), "", "Elements skipped or changed on import:", ""]
    for r in result["rows"]:
        for note in r.get("skipped", []):
            lines.append(f"- {r['preset']}: {note}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
