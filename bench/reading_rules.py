"""Extraction's reading rules (button calibration, stick normalization) chosen on tuning clips, reported on others.

    python bench/reading_rules.py [--parser DIR] [--clips 8] [--frames 90] [--real RUN.json ...] [--corpus DIR:SET ...]
                                  [--save-readings F.npz | --readings F.npz] [--grid FIELD=V1,V2 ...] [--json]

The rules of padflow.overlay.readings (`finish_actions`) turn the parser's raw readings of a video into its
action table; their thresholds are fields of params.yaml `extract`. This bench holds the parser's raw
readings of two sets of clips fixed and applies the rules to them, so thresholds are compared on the same
parser output (issue 19 item 6):

- tune: padflow's generator, the library's *training* skins (padflow.overlay.skingen), seeds TUNE_SEED + clip;
  and, with `--real`, the real input-overlay presets of the tuning folders (bench/real_overlays.py TUNE_FOLDERS).
- report: padflow's generator, the library's *held-out* skins, seeds REPORT_SEED + clip (other games' stretches,
  sizes, opacities); and the real presets of every other folder.

Generator clips are drawn here (not with the training renders' code path): a skin drawn by padflow's renderer
over a run of real game frames (padflow.players.footage) at 854x480-1280x720, 12-30 % of the width, opacity
0.6-1, H.264 crf 20-28, read by extraction's own path (padflow.overlay.readings.parse_overlay) at the drawn
transform (localization is not what is measured here). Shown actions are padflow.overlay.synth.random_actions
with each stick in one of SCENARIOS, in turn: moving as random_actions moves it, never touched, resting
most of the video with short pushes, or held in one direction with short releases.

Real clips come from `bench/real_overlays.py ... --keep-readings --save-json RUN.json` (their (b) reading).
Corpus clips (`--corpus DIR:tune` or `DIR:report`) are the videos of a padflow project folder that ran corpus,
ingest and extract (its data/corpus_truth holds what the players pressed): each video extract read with the parser
is read again with `--parser` at the pose extract recorded, whole, against its truth table (source "corpus").

For each grid setting the bench prints, per set and source, button F1 (mean over clips; pooled over the
buttons each skin draws), button accuracy, stick R² (mean over clips of the mean over the axes whose shown
value moves), stick R² pooled over every drawn axis of every clip of a set (a clip whose stick barely moves
cannot swing it) and stick MAE (every drawn axis, moving or not: a resting or held stick counts too). Stick
settings do not change buttons and button settings do not change sticks, so each grid is searched on its
own; the setting chosen is the best on the tune set (stick: mean pooled R² of both sources, MAE breaking ties;
buttons: mean F1) and its report figures are printed beside today's params.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from padflow.actions import AXES, AXIS_INDEX, BUTTON_INDEX, BUTTONS, LEFT_STICK, RIGHT_STICK
from padflow.config import from_mapping, load_params, project_root
from padflow.overlay.crops import placement_transform
from padflow.overlay.library import load_library
from padflow.overlay.readable import readable_controls
from padflow.overlay.readings import finish_actions, parse_overlay
from padflow.overlay.render import ANCHORS, Placement, composite, render_overlay
from padflow.overlay.synth import random_actions
from padflow.players.footage import collect_backgrounds, fit_to_upload
from padflow.video import write_mp4
from tasks.extract import ExtractConfig

TUNE_SEED, REPORT_SEED = 19_000, 29_000
TUNE_GAMES = ("pong_hold_15s", "boxing_score_10", "freeway_cross_once")
REPORT_GAMES = ("ms_pacman_eat_30_dots", "doom_basic_first_shot")
RESOLUTIONS = ((1280, 720), (960, 540), (854, 480))
WIDTH_FRAC, OPACITY, CRF = (0.12, 0.30), (0.6, 1.0), (20, 28)
SCENARIOS = ("moving", "untouched", "mostly_rest", "held")
PUSH_SHARE = 0.2  # mostly_rest: share of frames the stick is pushed
RELEASE_SHARE = 0.1  # held: share of frames the stick is released
STICK_GRID: dict[str, tuple[float, ...]] = {"stick_rest_bandwidth": (0.03, 0.05, 0.1, 0.2), "stick_min_range": (0.1, 0.2, 0.3, 0.5),
                                             "stick_rim": (0.6, 0.7, 0.8, 0.9, 1.0), "cap_min_match": (0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
                                             "cap_rest_bound": (0.1, 0.2, 0.3, 0.4, 0.5, 1.0)}  # fmt: skip
BUTTON_GRID: dict[str, tuple[float, ...]] = {"button_min_rise": (1.0, 2.0, 3.0, 4.0, 5.0, 6.0), "button_min_rest_frames": (0, 5, 10, 20),
                                              "button_max_added_share": (0.2, 0.4, 0.6, 0.8, 1.0)}


def scenario_actions(scenario: str, frames: int, rng: np.random.Generator) -> np.ndarray:
    """random_actions with both sticks following `scenario` (one of SCENARIOS)."""
    actions = random_actions(frames, rng)
    for stick in (LEFT_STICK, RIGHT_STICK):
        if scenario == "untouched":
            actions[:, stick] = 0.0
        elif scenario in ("mostly_rest", "held"):
            share = PUSH_SHARE if scenario == "mostly_rest" else RELEASE_SHARE
            burst = max(1, round(share * frames))
            start = int(rng.integers(0, frames - burst + 1))
            inside = np.zeros(frames, bool)
            inside[start : start + burst] = True
            if scenario == "mostly_rest":
                actions[~inside, stick] = 0.0
            else:
                angle = rng.uniform(0.0, 2 * np.pi)
                actions[:, stick] = np.where(inside[:, None], 0.0, [np.cos(angle), np.sin(angle)])
    return actions


def generator_clips(parser: Any, n: int, frames: int, held_out: bool, seed: int, games: tuple[str, ...], tmp: Path) -> list[dict[str, Any]]:
    """`n` clips of the library's training (or held-out) skins, read by extraction's path at the drawn transform."""
    from models.overlay_parser.cap_locator import locate_caps  # local: torch loads with the parser
    library = load_library([])
    ids = library.held_out_ids() if held_out else library.training_ids()
    runs = collect_backgrounds(games, frames, 2, seed)
    clips = []
    for k in range(n):
        rng = np.random.default_rng(seed + k)
        skin = library.skins[ids[int(rng.integers(len(ids)))]]
        scenario = SCENARIOS[k % len(SCENARIOS)]
        fw, fh = RESOLUTIONS[int(rng.integers(len(RESOLUTIONS)))]
        placement = Placement(anchor=str(ANCHORS[int(rng.integers(len(ANCHORS)))]), width_frac=float(rng.uniform(*WIDTH_FRAC)),
                              opacity=float(rng.uniform(*OPACITY)), margin_frac=0.02)  # fmt: skip
        width = placement.overlay_width(fw)
        box = placement.box(fw, fh, max(1, round(skin.size[1] * width / skin.size[0])))
        shown = scenario_actions(scenario, frames, rng)
        observed = np.array([name in skin.observed for name in BUTTONS + AXES])
        shown[:, ~observed] = 0.0
        run = runs[k % len(runs)]
        video = tmp / f"clip{k}.mp4"
        drawn = (composite(fit_to_upload(run[t % len(run)], fw, fh)[0], render_overlay(skin, shown[t], width), placement)[0] for t in range(frames))
        write_mp4(video, drawn, 30.0, crf=int(rng.integers(CRF[0], CRF[1] + 1)))
        parsed = parse_overlay(video, placement_transform(box, skin.size), skin, parser, 64, 1, locate_caps)
        raw = parsed.actions
        clips.append({"name": f"{skin.id} {scenario} seed {seed + k}", "source": "generator", "scenario": scenario, "raw": raw, "logits": parsed.button_logits, "caps": parsed.caps,
                      "shown": shown, "observed": frozenset(n for n, o in zip(BUTTONS + AXES, observed) if o)})  # fmt: skip
        print(f"{clips[-1]['name']}: {len(raw)} frames", file=sys.stderr)
    return clips


def real_clips(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The clips of a bench/real_overlays.py run saved with --keep-readings, by set."""
    out: dict[str, list[dict[str, Any]]] = {"tune": [], "report": []}
    for row in json.loads(path.read_text())["rows"]:
        readings = (row.get("b") or {}).get("readings")
        if readings is None or row["b"]["skin"] != row["skin_id"]:  # a sibling's layout reads other controls
            continue
        out[row["set"]].append({"name": row["preset"], "source": "real", "scenario": "moving", "raw": np.asarray(readings["raw"], np.float32),
                                "logits": np.asarray(readings["logits"], np.float32), "shown": np.asarray(readings["shown"], np.float32),
                                "observed": frozenset(row["observed_controls"])})  # fmt: skip
    return out


def corpus_clips(project: Path, parser: Any, cfg: ExtractConfig) -> list[dict[str, Any]]:
    """Every parser-read video of a project folder's extract (cfg's folders), read again by `parser` at its recorded pose, with its truth table."""
    from models.overlay_parser.cap_locator import locate_caps  # local: torch loads with the parser
    from padflow.ingest.report import read_report
    from padflow.tables import read_action_table, table_to_actions

    library, clips = load_library(()), []
    for row in read_report(project / cfg.ingest_dir)["files"]:
        record_path = project / cfg.out_dir / f"{row['video_id']}.json"
        truth_path = project / cfg.truth_dir / Path(row["path"]).with_suffix(".parquet").name
        if not (record_path.is_file() and truth_path.is_file()):
            continue
        record = json.loads(record_path.read_text())
        if not record["localization"].get("found") or record.get("reader") != "parser":
            continue
        skin = library.skins[record["localization"]["skin_id"]]
        parsed = parse_overlay(project / record["video"], np.array(record["localization"]["transform"]), skin, parser, cfg.batch_size, cfg.decode_threads, locate_caps)
        raw = parsed.actions
        shown = table_to_actions(read_action_table(truth_path))
        clips.append({"name": f"{project.name}/{row['path']}", "source": "corpus", "scenario": "moving", "raw": raw, "logits": parsed.button_logits, "caps": parsed.caps,
                      "shown": shown, "observed": readable_controls(skin)})  # fmt: skip
        print(f"{clips[-1]['name']}: {len(raw)} frames", file=sys.stderr)
    return clips


def clip_scores(actions: np.ndarray, shown: np.ndarray, observed: frozenset[str]) -> dict[str, float | None]:
    n = min(len(actions), len(shown))
    actions, shown = actions[:n], shown[:n]
    cols = [BUTTON_INDEX[b] for b in BUTTONS if b in observed]
    r, s = actions[:, cols] > 0.5, shown[:, cols] > 0.5
    tp, fp, fn = int((r & s).sum()), int((r & ~s).sum()), int((~r & s).sum())
    axes = [AXIS_INDEX[a] for a in AXES if a in observed]
    r2 = []
    for i in axes:
        y, p = shown[:, i], actions[:, i]
        ss_tot = float(((y - y.mean()) ** 2).sum())
        if ss_tot > 1e-9:
            r2.append(1.0 - float(((y - p) ** 2).sum()) / ss_tot)
    return {
        "button_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "button_accuracy": float((r == s).mean()) if cols else None,
        "stick_r2": float(np.mean(r2)) if r2 else None,
        "stick_mae": float(np.abs(actions[:, axes] - shown[:, axes]).mean()) if axes else None,
    }


def evaluate(clips: list[dict[str, Any]], cfg: ExtractConfig) -> dict[str, float | None]:
    """Means over clips, and stick R² pooled over every drawn axis of every clip (1 - total squared error / total variance)."""
    finished = [finish_actions(c["raw"], c["logits"], cfg, c.get("caps"))[0] for c in clips]  # readings saved before the cap locator have no caps
    scores = [clip_scores(a, c["shown"], c["observed"]) for a, c in zip(finished, clips)]
    out: dict[str, float | None] = {}
    for key in ("button_f1", "button_accuracy", "stick_r2", "stick_mae"):
        values = [s[key] for s in scores if s[key] is not None]
        out[key] = round(float(np.mean(values)), 3) if values else None
    sse = sst = 0.0
    for a, c in zip(finished, clips):
        n = min(len(a), len(c["shown"]))
        for i in (AXIS_INDEX[x] for x in AXES if x in c["observed"]):
            y = c["shown"][:n, i]
            sse, sst = sse + float(((y - a[:n, i]) ** 2).sum()), sst + float(((y - y.mean()) ** 2).sum())
    out["stick_r2_pooled"] = round(1.0 - sse / sst, 3) if sst > 0 else None
    return out


def search(sets: dict[str, dict[str, list]], base: ExtractConfig, grid: dict[str, tuple[float, ...]], objective: str) -> tuple[dict[str, float], list]:
    """Every setting of `grid` on every set/source; the one best on the tune set by `objective` ("stick" or "button")."""
    rows = []
    for values in itertools.product(*grid.values()):
        setting = dict(zip(grid, values))
        try:
            cfg = replace(base, **setting)
        except ValueError:
            continue
        figures = {(name, source): evaluate(clips, cfg) for name, by_source in sets.items() for source, clips in by_source.items() if clips}
        tune = [f for (name, _), f in figures.items() if name == "tune"]
        if objective == "stick":
            key = (np.mean([f["stick_r2_pooled"] for f in tune if f["stick_r2_pooled"] is not None]),
                   -np.mean([f["stick_mae"] for f in tune if f["stick_mae"] is not None]))  # fmt: skip
        else:
            key = (np.mean([f["button_f1"] for f in tune if f["button_f1"] is not None]), 0.0)
        rows.append((setting, figures, key))
    best = max(rows, key=lambda r: r[2])[0]
    return best, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parser", type=Path, help="trained overlay parser folder (default: params extract.parser_dir)")
    ap.add_argument("--clips", type=int, default=8, help="generator clips per set (tune, report); issue 19's figures used 16")
    ap.add_argument("--frames", type=int, default=90, help="frames per generator clip (30 fps)")
    ap.add_argument("--real", type=Path, nargs="*", default=[], help="bench/real_overlays.py runs saved with --keep-readings")
    ap.add_argument("--corpus", nargs="*", default=[], help="DIR:tune or DIR:report: a project folder's extracted corpus videos, read against their truth")
    ap.add_argument("--save-readings", type=Path, help="keep the generator clips' readings in this .npz")
    ap.add_argument("--readings", type=Path, help="use generator readings saved with --save-readings instead of drawing clips")
    ap.add_argument("--grid", nargs="*", default=[], help="FIELD=V1,V2,... replaces that field's values in the stick or button grid")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = project_root()
    base = from_mapping(ExtractConfig, load_params(root / "params.yaml").get("extract"), "extract")
    stick_grid, button_grid = dict(STICK_GRID), dict(BUTTON_GRID)
    for item in args.grid:
        field, _, values = item.partition("=")
        if field not in ExtractConfig.__dataclass_fields__ or not values:
            raise SystemExit(f"--grid {item!r}: expected FIELD=V1,V2 with FIELD an extract setting")
        (button_grid if field.startswith("button_") else stick_grid)[field] = tuple(float(v) for v in values.split(","))
    started = time.perf_counter()
    sets: dict[str, dict[str, list]] = {"tune": {}, "report": {}}
    corpora = [(Path(folder), name) for folder, _, name in (item.rpartition(":") for item in args.corpus)]
    for item, (folder, name) in zip(args.corpus, corpora):
        if name not in sets or not (folder / base.truth_dir).is_dir():
            raise SystemExit(f"--corpus {item!r}: expected DIR:tune or DIR:report, DIR a project folder with {base.truth_dir}")
    parser = None
    if args.corpus or (args.clips and not args.readings):
        from models.overlay_parser import load_parser  # local: torch loads only once the arguments are checked

        parser = load_parser(args.parser or root / base.parser_dir)
    if args.readings:
        saved = np.load(args.readings, allow_pickle=True)["clips"]
        for c in saved:
            sets[c["set"]].setdefault("generator", []).append(c)
    elif args.clips:
        with tempfile.TemporaryDirectory() as tmp:
            sets["tune"]["generator"] = generator_clips(parser, args.clips, args.frames, False, TUNE_SEED, TUNE_GAMES, Path(tmp))
            sets["report"]["generator"] = generator_clips(parser, args.clips, args.frames, True, REPORT_SEED, REPORT_GAMES, Path(tmp))
        if args.save_readings:
            keep = [dict(c, set=name) for name in ("tune", "report") for c in sets[name]["generator"]]
            np.savez_compressed(args.save_readings, clips=np.array(keep, dtype=object))
    for folder, name in corpora:
        sets[name].setdefault("corpus", []).extend(corpus_clips(folder, parser, base))
    for path in args.real:
        for name, clips in real_clips(path).items():
            sets[name].setdefault("real", []).extend(clips)
    today = {(name, source): evaluate(clips, base) for name, by_source in sets.items() for source, clips in by_source.items() if clips}
    stick_best, stick_rows = search(sets, base, stick_grid, "stick")
    button_best, button_rows = search(sets, base, button_grid, "button")
    chosen = replace(base, **stick_best, **button_best)
    result = {
        "clips": {f"{name} {source}": len(clips) for name, by_source in sets.items() for source, clips in by_source.items()},
        "today": {f"{k[0]} {k[1]}": v for k, v in today.items()},
        "stick_chosen_on_tune": stick_best, "button_chosen_on_tune": button_best,
        "chosen": {f"{name} {source}": evaluate(clips, chosen) for name, by_source in sets.items() for source, clips in by_source.items() if clips},
        "stick_grid": [{**s, **{f"{k[0]} {k[1]}": {m: f[m] for m in ("stick_r2", "stick_r2_pooled", "stick_mae")} for k, f in fig.items()}} for s, fig, _ in stick_rows],
        "button_grid": [{**s, **{f"{k[0]} {k[1]}": {m: f[m] for m in ("button_f1", "button_accuracy")} for k, f in fig.items()}} for s, fig, _ in button_rows],
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0


def report(result: dict[str, Any]) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["clips: " + ", ".join(f"{k} {v}" for k, v in result["clips"].items()), "",
             "| set source | settings | button F1 | button acc | stick R² (clip mean) | stick R² (pooled) | stick MAE |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for key in result["today"]:
        for label, figures in (("params.yaml", result["today"][key]), ("chosen on tune", result["chosen"][key])):
            lines.append(f"| {key} | {label} | {fmt(figures['button_f1'])} | {fmt(figures['button_accuracy'])} | {fmt(figures['stick_r2'])} | "
                         f"{fmt(figures['stick_r2_pooled'])} | {fmt(figures['stick_mae'])} |")  # fmt: skip
    lines += ["", f"chosen on tune: {result['stick_chosen_on_tune']} {result['button_chosen_on_tune']}", ""]
    for name, metrics in (("stick_grid", ("stick_r2", "stick_r2_pooled", "stick_mae")), ("button_grid", ("button_f1", "button_accuracy"))):
        for row in result[name]:
            setting = " ".join(f"{k}={v:g}" for k, v in row.items() if not isinstance(v, dict))
            cells = " | ".join(f"{k}: " + " ".join(fmt(v[m]) for m in metrics) for k, v in row.items() if isinstance(v, dict))
            lines.append(f"{name} {setting} | {cells}")
    lines.append(f"\n{result['seconds']} s")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
