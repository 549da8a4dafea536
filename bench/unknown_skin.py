"""Unknown skins: overlays whose skin is not in the library must be recorded unknown_skin, never read under a wrong skin.

    python bench/unknown_skin.py [--sets tune report] [--library-clips 8] [--new-clips 16] [--seconds 6 8]
                                 [--declare] [--work DIR] [--json]

Two sets of clips, drawn by padflow's corpus machinery (simulated gameplay of the corpus tasks,
upload resolutions, overlay width 8–30 % of the frame, opacity 0.4–1, H.264 crf 20–30):

- library clips: overlays of the 48 built-in skins, as the corpus draws them;
- new clips: overlays of skins that are *not* in the library, drawn by padflow.overlay.skingen's
  painter from other seeds than the built-in skins' (`NEW_SKIN_SEEDS`) — the "tune" set with
  styles sampled as the built-in ones are, the "report" set with other style settings (body shape,
  d-pad style, pressed look and labels moved one step along their cycles, `restyle`), so the
  report set's skins look unlike anything the thresholds were tuned on.

Every clip is localized against the library with extract's settings (params.yaml
`extract.localize`). Per set it prints the counts: library clips → right skin / wrong skin /
unknown_skin / missed (IoU < 0.8 or no overlay), new clips → unknown_skin (box at IoU >= 0.8, or
anywhere) / wrong skin named / missed; and the skin-agreement scores the decision reads (best fit,
runner-up), so the thresholds (`extract.localize.min_skin_agreement`, `min_skin_margin`) are chosen
on the tune set and checked on the report set (each set's summary says which it is). Clips are kept in `--work` (default: a temporary folder) and
reused when the folder already holds them.

With --declare, every clip is localized a second time with a skin declared, as the ingest manifest's
`skin` does (padflow.overlay.localize.verify): a library clip with its own skin (a user who knows it),
a new clip with the library skin that fits it best (the worst wrong declaration: a user who takes
their pad for its look-alike). Counts under "declared": right / unknown_skin / missed, and how often
the wrong declaration is named.

The skins of the new clips share their geometry (up to a few px) with the built-in family they
were drawn for, so a library skin of that family fits them at the right place: the hardest kind
of unknown skin, where only the skin's looks tell the two apart.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from padflow.config import from_mapping, load_params, project_root
from padflow.fanout import TaskRunnerConfig, fan_out
from padflow.io import write_json
from padflow.overlay import skingen
from padflow.overlay.crops import box_iou
from padflow.overlay.library import FAMILIES, HELD_OUT_SKINS, load_library
from padflow.overlay.localize import LocalizeConfig, localize_overlay
from tasks.corpus import CorpusConfig, load_truth, make_video, plan_videos

IOU_FLOOR = 0.8  # a box with at least this IoU against the drawn one is in the right place
SET_ROLES = {"tune": "thresholds chosen on this set", "report": "reported only: other seeds and styles, never tuned on"}
SET_SEEDS = {"tune": 100, "report": 200}  # corpus plan seeds of the two sets (gameplay, placement, library skins)
NEW_SKIN_SEEDS = {"tune": 1001, "report": 2002}  # skingen seeds of the skins outside the library (built-in: LIBRARY_SEED)
NEW_SKIN_INDICES = range(13, 25)  # style indices drawn per family: built-in skins use 1..12, and the same index gives a near-twin (same body and face colours)


def restyle(style: Any, index: int) -> Any:
    """The report set's other style settings: body shape, d-pad style, pressed look and labels one step along their cycles."""
    shapes = ("grips", "compact", "slim", "none")
    dpads = ("cross", "triangles", "separate")
    pressed = skingen.PRESSED_CYCLE
    changes: dict[str, Any] = {
        "pressed": pressed[(pressed.index(style.pressed) + 1) % len(pressed)],
        "label_kind": "none" if style.label_kind != "none" else "labels",
    }
    if style.layout in ("xbox", "playstation", "nintendo"):
        changes["body_shape"] = shapes[(shapes.index(style.body_shape) + 1 + index % 3) % len(shapes)]
    if style.dpad_style in dpads:
        changes["dpad_style"] = dpads[(dpads.index(style.dpad_style) + 1) % len(dpads)]
    return replace(style, **changes)


def new_skins(set_name: str, count: int, out_dir: Path) -> list[str]:
    """Draw `count` skins outside the library into out_dir (layout + rest image); their ids.

    skingen draws the built-in skins from LIBRARY_SEED only and has no public seed argument, so
    its style sampler, geometries and painter are used directly with another seed.
    """
    seed = NEW_SKIN_SEEDS[set_name]
    rng_pick = np.random.default_rng([seed, 0])
    pairs = [(f, i) for f in FAMILIES for i in NEW_SKIN_INDICES]
    chosen = [pairs[k] for k in rng_pick.permutation(len(pairs))[:count]]
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    for family, index in chosen:
        skin_id = f"{set_name}-{family}-s{seed}-{index:02d}"
        rng = np.random.default_rng([seed, FAMILIES.index(family), index])
        style = skingen._Style.sample(family, index, rng)
        if set_name == "report":
            style = restyle(style, index)
        geometry = skingen._GEOMETRY[style.layout](rng)
        layout, rest = skingen._Painter(skin_id, family, style, geometry).paint()
        Image.fromarray(rest, "RGBA").save(out_dir / f"{skin_id}.png")
        write_json(out_dir / f"{skin_id}.json", layout)
        ids.append(skin_id)
    return ids


def make_clips(set_name: str, corpus: CorpusConfig, n_library: int, n_new: int, work: Path) -> list[dict[str, Any]]:
    """Render (or reuse) the set's clips under work/<set>; one dict per clip: name, kind, drawn skin."""
    root = work / set_name
    manifest = root / "clips.json"
    if manifest.is_file():
        return json.loads(manifest.read_text())
    skin_dir = root / "skins"
    ids = new_skins(set_name, n_new, skin_dir)
    library = load_library()
    cfg = replace(corpus, videos=n_library + n_new, no_overlay_share=0.0, raw_dir=str(root / "raw"), truth_dir=str(root / "truth"))
    plans = plan_videos(cfg, SET_SEEDS[set_name], library.skins, set(HELD_OUT_SKINS))
    plans = plans[:n_library] + [replace(p, skin_id=ids[k], held_out=True) for k, p in enumerate(plans[n_library:])]
    draw = functools.partial(make_video, cfg=cfg, root=Path("/"), skin_dirs=(str(skin_dir),))  # the paths in cfg are absolute
    truths = fan_out(draw, plans, name="unknown_skin clips", runner=TaskRunnerConfig(), workers=cfg.workers, labels=[p.name for p in plans])
    clips = [{"name": t.plan.name, "kind": "library" if k < n_library else "new", "skin_id": t.plan.skin_id, "game": t.game,
              "width_px": t.overlay_box[2] - t.overlay_box[0], "opacity": round(t.plan.opacity, 2), "crf": t.plan.crf}
             for k, t in enumerate(truths)]  # fmt: skip
    write_json(manifest, clips)
    return clips


def score_set(set_name: str, clips: list[dict[str, Any]], work: Path, cfg: LocalizeConfig, declare: bool = False) -> dict[str, Any]:
    library = load_library()
    root = work / set_name
    rows = []
    for clip in clips:
        loc = localize_overlay(root / "raw" / f"{clip['name']}.mp4", library, cfg)
        declared = None
        if declare and (clip["kind"] == "library" or loc.nearest_skin is not None):
            said = clip["skin_id"] if clip["kind"] == "library" else loc.nearest_skin
            again = localize_overlay(root / "raw" / f"{clip['name']}.mp4", library, cfg, said)
            declared = {"skin": said, "outcome": again.outcome, "named": again.skin_id, "reason": again.reason}
        truth = load_truth(root / "truth", clip["name"])
        box = loc.box if (loc.found or loc.unknown_skin) else None
        iou = box_iou(box, truth["overlay_box"]) if box else None
        if clip["kind"] == "library":
            if loc.found and iou is not None and iou >= IOU_FLOOR:
                outcome = "right_skin" if loc.skin_id == clip["skin_id"] else "wrong_skin"
            elif loc.unknown_skin:
                outcome = "unknown_skin"
            else:
                outcome = "missed"
        else:
            outcome = "wrong_skin" if loc.found else ("unknown_skin" if loc.unknown_skin else "missed")
        rows.append({**clip, "outcome": outcome, "named": loc.skin_id, "nearest": loc.nearest_skin, "iou": None if iou is None else round(iou, 3),
                     "agreement": loc.skin_agreement, "runner_up_agreement": loc.runner_up_agreement, "seconds": loc.seconds,
                     "reason": loc.reason, "declared": declared})  # fmt: skip
    counts: dict[str, dict[str, int]] = {}
    for kind, outcomes in (("library", ("right_skin", "wrong_skin", "unknown_skin", "missed")), ("new", ("unknown_skin", "wrong_skin", "missed"))):
        group = [r for r in rows if r["kind"] == kind]
        counts[kind] = {"clips": len(group), **{o: sum(r["outcome"] == o for r in group) for o in outcomes}}
    counts["new"]["unknown_skin_box_iou_0.8"] = sum(
        r["outcome"] == "unknown_skin" and r["iou"] is not None and r["iou"] >= IOU_FLOOR for r in rows if r["kind"] == "new"
    )
    if declare:
        said = [r for r in rows if r["declared"] is not None]
        counts["declared"] = {
            "library_clips": sum(r["kind"] == "library" for r in said),
            "library_right": sum(r["kind"] == "library" and r["declared"]["named"] == r["skin_id"] for r in said),
            "library_unknown_skin": sum(r["kind"] == "library" and r["declared"]["outcome"] == "unknown_skin" for r in said),
            "new_clips_declared_their_look_alike": sum(r["kind"] == "new" for r in said),
            "new_look_alike_named": sum(r["kind"] == "new" and r["declared"]["named"] is not None for r in said),
        }
    return {"set": set_name, "role": SET_ROLES[set_name], "counts": counts, "agreement": _agreements(rows), "rows": rows}


def _agreements(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The decision's score on each kind of clip: how far apart the true skins and the look-alikes are."""
    lib = [r["agreement"] for r in rows if r["kind"] == "library" and r["agreement"] is not None and r["nearest"] == r["skin_id"]]
    runner = [r["runner_up_agreement"] for r in rows if r["kind"] == "library" and r["runner_up_agreement"] is not None]
    new = [r["agreement"] for r in rows if r["kind"] == "new" and r["agreement"] is not None]

    def spread(v: list[float]) -> dict[str, Any]:
        return {"n": len(v), "min": round(min(v), 3), "median": round(float(np.median(v)), 3), "max": round(max(v), 3)} if v else {"n": 0}

    return {"library_true_skin": spread(lib), "library_runner_up": spread(runner), "new_best_fit": spread(new)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", choices=sorted(SET_SEEDS), default=["tune", "report"])
    ap.add_argument("--library-clips", type=int, default=8, help="clips per set drawn with library skins")
    ap.add_argument("--new-clips", type=int, default=16, help="clips per set drawn with skins outside the library")
    ap.add_argument("--seconds", type=float, nargs=2, default=(6.0, 8.0), help="clip length range, s")
    ap.add_argument("--work", type=Path, default=None, help="keep (and reuse) the clips here")
    ap.add_argument("--declare", action="store_true", help="also localize each clip with a skin declared (its own, or a new clip's look-alike)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    root = project_root()
    params = load_params(root / "params.yaml")
    corpus = replace(from_mapping(CorpusConfig, params.get("corpus"), "corpus"), seconds=tuple(args.seconds))
    cfg = from_mapping(LocalizeConfig, (params.get("extract") or {}).get("localize"), "extract.localize")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        results = [score_set(s, make_clips(s, corpus, args.library_clips, args.new_clips, work), work, cfg, args.declare) for s in args.sets]
    summary = {"min_skin_agreement": cfg.min_skin_agreement, "min_skin_margin": cfg.min_skin_margin, "skin_agreement_alone": cfg.skin_agreement_alone,
               "sets": [{k: r[k] for k in ("set", "role", "counts", "agreement")} for r in results],
               "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    if args.json:
        print(json.dumps({**summary, "rows": [row for r in results for row in r["rows"]]}, indent=2))
        return
    for r in results:
        for row in r["rows"]:
            print(f"{r['set']:6s} {row['kind']:7s} {row['skin_id']:34s} {row['width_px']:4d} px op {row['opacity']:.2f} → {row['outcome']:12s} "
                  f"named {row['named']} nearest {row['nearest']} agreement {row['agreement']} runner-up {row['runner_up_agreement']} iou {row['iou']}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
