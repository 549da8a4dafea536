"""`padflow skins SUBCOMMAND`: the user-skin path — add a skin to the project, list the library.

    padflow skins add SKIN.json|DIR [--held-out] [--replace]   copy validated skins into the project's skin folder
    padflow skins list [--json]                                 every skin extract and parser_train will use
    padflow skins import-input-overlay PRESET.json [--atlas PNG] --out DIR [--id NAME]
                                                                convert an OBS input-overlay preset into a sprite skin
    padflow skins from-video VIDEO --out DIR [--names NAMES.json] [--id NAME] [--box X0,Y0,X1,Y1]
                                                                draft a sprite skin from the overlay in a video
    padflow skins adapt SKIN [--parser DIR] [--out DIR] [--steps N] [--samples N] [--seed N] [--json]
                                                                fine-tune the trained parser on one skin (skins_adapt.py)

The project's skin folder is the first folder of `overlay.skin_dirs` (params.yaml; default
`skins`, relative to the project). corpus, parser_train and extract load the built-in skins plus
every folder listed there, and dvc.yaml lists those folders as deps of those stages, so after
`padflow skins add` a `dvc repro` (or `padflow run`) retrains the parser with the new skin in its
renders — unless the skin is held out (`--held-out` writes `"held_out": true` into its layout),
which keeps it out of training renders and in the held-out validation set. docs/skins.md has the formats.

Subcommands are registered through SUBCOMMANDS: each is a `register(subparsers)` function that
adds one parser with `func` set (importers and the draft-from-video tool add theirs there).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from pathlib import Path

from padflow.commands import skins_adapt
from padflow.config import from_mapping, load_params, project_root
from padflow.io import write_text
from padflow.overlay.input_overlay import PresetWarning, import_preset
from padflow.overlay.library import AnySkin, is_held_out, load_any_skin, load_library
from padflow.overlay.localize import LocalizeConfig, build_index
from padflow.overlay.readable import readable_controls
from padflow.overlay.skin import read_layout_json


def register(subparsers) -> None:
    p = subparsers.add_parser("skins", help="add your own controller skins to the project, list the library")
    sub = p.add_subparsers(dest="skins_command", required=True, metavar="SUBCOMMAND")
    for register_subcommand in SUBCOMMANDS:
        register_subcommand(sub)


def project_skin_dir(root: Path | None = None) -> Path:
    """The folder `padflow skins add` writes to: the first of params `overlay.skin_dirs`, under the project."""
    root = (root or project_root()).resolve()
    dirs = (load_params(root).get("overlay") or {}).get("skin_dirs") or []
    if not dirs:
        raise ValueError(f"{root / 'params.yaml'}: overlay.skin_dirs is empty: list a folder for your skins there (e.g. [skins])")
    return root / dirs[0]


def localize_config(root: Path | None = None) -> LocalizeConfig:
    """The project's `extract.localize` settings (params.yaml), which decide whether a skin can be found at all."""
    return from_mapping(LocalizeConfig, (load_params((root or project_root()).resolve()).get("extract") or {}).get("localize"), "extract.localize")


def user_skin_dirs(root: Path | None = None) -> list[Path]:
    """Every folder of params `overlay.skin_dirs`, under the project (those that exist)."""
    root = (root or project_root()).resolve()
    dirs = (load_params(root).get("overlay") or {}).get("skin_dirs") or []
    return [root / d for d in dirs if (root / d).is_dir()]


def _register_add(sub) -> None:
    p = sub.add_parser("add", help="validate skins (a layout JSON, or every layout in a folder) and copy them into the project's skin folder")
    p.add_argument("source", type=Path, help="a skin layout <id>.json (its PNG beside it), or a folder of them")
    p.add_argument("--held-out", action="store_true", help="mark the copies held out: never in the parser's training renders")
    p.add_argument("--replace", action="store_true", help="overwrite a skin of the same id already in the project's skin folder")
    p.set_defaults(func=run_add)


def run_add(args) -> int:
    added = add_skins(args.source, held_out=args.held_out, replace=args.replace)
    for skin in added:
        print(f"added {skin.id} ({skin.kind}, {skin.family}, {len(skin.observed)}/21 controls drawn"
              f"{', held out' if is_held_out(skin) else ''}) → {skin.layout_path}")  # fmt: skip
    print(f"{len(added)} skin(s) added; `dvc repro` (or `padflow run`) retrains the parser and re-extracts with them", file=sys.stderr)
    return 0


def add_skins(source: Path, *, held_out: bool = False, replace: bool = False, root: Path | None = None) -> list[AnySkin]:
    """Validate the skin(s) at `source` and copy each (layout + image) into the project's skin folder.

    Nothing is copied unless every skin is valid, localization could find it (`build_index` says
    why not), and no id collides with a skin already in the library (a same-id skin in the
    project's folder is overwritten only with `replace`).
    """
    source = Path(source)
    if source.is_dir():
        layouts = sorted(source.glob("*.json"))
        if not layouts:
            raise ValueError(f"{source}: no skins found (a skin is <id>.json plus its PNG)")
    elif source.suffix == ".json":
        layouts = [source]
    else:
        raise ValueError(f"{source}: expected a skin layout <id>.json or a folder of them")
    skins = [load_any_skin(p) for p in layouts]
    build_index(tuple(skins), localize_config(root))  # extract would refuse a skin no fit could ever name: refused here first
    target = project_skin_dir(root)
    library = load_library(user_skin_dirs(root))
    for skin in skins:
        existing = library.skins.get(skin.id)
        if existing is None or existing.layout_path.resolve() == skin.layout_path.resolve():
            continue
        if not (replace and existing.layout_path.parent.resolve() == target.resolve()):
            raise ValueError(f"{skin.layout_path}: id: {skin.id!r} is already in the library ({existing.layout_path})"
                             + ("" if replace else "; --replace overwrites a skin of the project's skin folder"))  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    added = []
    for skin, layout in zip(skins, layouts):
        data = read_layout_json(layout)
        if held_out:
            data["held_out"] = True
        dest = target / layout.name
        if skin.image_path.resolve() != (target / skin.image_path.name).resolve():
            shutil.copyfile(skin.image_path, target / skin.image_path.name)
        write_text(dest, json.dumps(data, indent=2) + "\n")
        added.append(load_any_skin(dest))
    return added


def _register_list(sub) -> None:
    p = sub.add_parser("list", help="the skins extract and parser_train use: built-in ones and those of overlay.skin_dirs")
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, kind, family, held_out, observed, layout}")
    p.set_defaults(func=run_list)


def run_list(args) -> int:
    library = load_library(user_skin_dirs(), skip_invalid=True)
    rows = [{"id": s.id, "kind": s.kind, "family": s.family, "held_out": is_held_out(s), "observed": len(s.observed),
             "layout": str(s.layout_path)} for s in library.skins.values()]  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["id"]) for r in rows)
        print(f"{'id'.ljust(width)}  {'kind'.ljust(10)}  {'family'.ljust(12)}  drawn  held_out  layout")
        for r in rows:
            print(f"{r['id'].ljust(width)}  {r['kind'].ljust(10)}  {r['family'].ljust(12)}  {r['observed']:>5}  "
                  f"{'yes' if r['held_out'] else '   '}       {r['layout']}")  # fmt: skip
    for path, reason in library.rejected:
        print(f"rejected {path}: {reason}", file=sys.stderr)
    return 1 if library.rejected else 0


def _register_import_input_overlay(sub) -> None:
    p = sub.add_parser("import-input-overlay", help="convert an OBS input-overlay preset (JSON + atlas PNG) into a sprite skin")
    p.add_argument("preset", type=Path, help="the preset's JSON file")
    p.add_argument("--atlas", type=Path, help="its texture atlas PNG (default: <preset>.png, or the only PNG beside it)")
    p.add_argument("--out", type=Path, required=True, help="folder to write <id>.json + <id>.png into (then `padflow skins add` it)")
    p.add_argument("--id", dest="skin_id", help="skin id (default: from the preset's file name)")
    p.add_argument("--family", default="generic", help="skin family (default: generic)")
    p.add_argument("--scale", type=int, help="integer upscale, nearest neighbour (default: pixel-art presets only, to 192 px)")
    p.add_argument("--held-out", action="store_true", help="mark the skin held out: never in the parser's training renders")
    p.set_defaults(func=run_import_input_overlay)


def run_import_input_overlay(args) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PresetWarning)  # printed below from the result, once each
        result = import_preset(args.preset, args.out, args.atlas, args.skin_id, args.family, args.scale, args.held_out)
    for note in result.notes:
        print(f"warning: {note}", file=sys.stderr)
    skin = result.skin
    unobserved = 21 - len(readable_controls(skin))
    print(f"imported {args.preset} (atlas {result.atlas_source}) → {skin.layout_path}: {skin.size[0]}x{skin.size[1]} px"
          f"{f' (x{result.scale})' if result.scale > 1 else ''}, {len(skin.layers)} layers, {len(skin.observed)}/21 controls drawn"
          f"{f', {unobserved} unobserved' if unobserved else ''}")  # fmt: skip
    try:
        build_index((skin,), localize_config())
    except ValueError as exc:
        print(f"warning: extract cannot find this overlay: {exc}; `padflow skins add` refuses it", file=sys.stderr)
    return 0


def _register_from_video(sub) -> None:
    p = sub.add_parser("from-video", help="draft a sprite skin from a video whose overlay no library skin explains")
    p.add_argument("video", type=Path, help="a video showing the overlay while the game moves and the controls are used")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for the draft (draft/<id>.sheet.png numbers the regions) and, with --names, the skin <id>.json + <id>.png")  # fmt: skip
    p.add_argument("--names", type=Path, help='JSON of region number → control, e.g. {"3": "SOUTH", "7": "LEFT_STICK"}; unnamed regions are dropped')
    p.add_argument("--id", dest="skin_id", help="skin id (default: from the video's file name)")
    p.add_argument("--frames", type=int, default=240, help="frames analysed (default 240); more frames see rarer presses")
    p.add_argument("--start", type=int, default=0, help="first frame analysed (default 0)")
    p.add_argument("--box", type=_box, metavar="X0,Y0,X1,Y1",
                   help="where the overlay is, frame px of VIDEO (e.g. extract's unknown_skin box, of the ingested video "
                        "data/ingest/videos/<video_id>.mp4): only that box, grown a quarter per side, is analysed")  # fmt: skip
    p.set_defaults(func=run_from_video)


def _box(text: str) -> tuple[int, int, int, int]:
    """`--box X0,Y0,X1,Y1` as four ints (brackets and spaces allowed, as extract's report prints a box)."""
    parts = [p for p in text.strip("[]() ").replace(" ", "").split(",") if p]
    try:
        box = tuple(int(p) for p in parts)
    except ValueError:
        box = ()
    if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
        raise argparse.ArgumentTypeError(f"{text!r}: want four integers X0,Y0,X1,Y1 with X0 < X1 and Y0 < Y1 (frame px)")
    return box  # type: ignore[return-value]


def run_from_video(args) -> int:
    import re

    from padflow.overlay.draft import DraftSettings, draft_skin, named_skin, read_names, write_draft

    skin_id = args.skin_id or re.sub(r"[^a-z0-9_-]+", "-", args.video.stem.lower()).strip("-_") or "from-video"
    names = read_names(args.names) if args.names else None  # a bad names file fails before the analysis
    draft = draft_skin(args.video, DraftSettings(frames=args.frames, start=args.start, within=args.box))
    paths = write_draft(draft, args.out / "draft", skin_id)
    x0, y0, x1, y1 = draft.box
    kinds = [r.kind for r in draft.regions]
    print(f"overlay at x {x0}-{x1}, y {y0}-{y1} ({x1 - x0}x{y1 - y0} px): {kinds.count('button')} button and "
          f"{kinds.count('stick')} stick region(s) → {paths['sheet']}")  # fmt: skip
    if names is None:
        print('name the regions: write e.g. {"1": "SOUTH"} to names.json and run again with --names names.json', file=sys.stderr)
        return 0
    skin = named_skin(draft, names, args.out, skin_id)
    print(f"wrote {skin.layout_path}: {len(skin.observed)}/21 controls drawn; `padflow skins add {skin.layout_path}` adds it to the project")
    return 0


# One register function per subcommand, in help order.
SUBCOMMANDS = (_register_add, _register_list, _register_import_input_overlay, _register_from_video, skins_adapt.register)
