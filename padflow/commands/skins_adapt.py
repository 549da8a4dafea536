"""`padflow skins adapt SKIN`: fine-tune the trained overlay parser on renders of one skin of the library.

    padflow skins adapt SKIN [--skin-dir DIR] [--parser DIR] [--out DIR] [--steps N] [--samples N] [--eval-samples N]
                             [--curve-every N] [--seed N] [--json]

A shell over models.overlay_parser.adapt.adapt_parser: the base parser is params
`extract.parser_dir` (the one extract reads), the library and the renders are parser_train's
(params `overlay.skin_dirs`, `parser_train`), the result goes to data/parser_adapted/<SKIN>.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

from padflow.config import from_mapping, load_params, project_root

DEFAULT_OUT = Path("data/parser_adapted")  # <SKIN> under it, relative to the project


def register(sub) -> None:
    p = sub.add_parser("adapt", help="fine-tune the trained overlay parser on renders of one skin (a few CPU minutes)")
    p.add_argument("skin", help="a skin id of the library (`padflow skins list`), built-in or in overlay.skin_dirs")
    p.add_argument("--skin-dir", type=Path, action="append", default=[],
                   help="another folder of skins to find SKIN in, besides overlay.skin_dirs (e.g. an import-input-overlay --out); repeatable")
    p.add_argument("--parser", type=Path, help="the parser to adapt (default: params extract.parser_dir); left unchanged")
    p.add_argument("--out", type=Path, help=f"folder for the adapted parser (default: {DEFAULT_OUT}/SKIN)")
    p.add_argument("--steps", type=int, help="optimizer steps (default 200)")
    p.add_argument("--samples", type=int, help="training pairs rendered of the skin (default: steps x 32, each trained on once)")
    p.add_argument("--eval-samples", type=int, help="fresh pairs scored before and after (default 500)")
    p.add_argument("--curve-every", type=int, help="steps between scorings during training, in the card (default 50; 0 = none)")
    p.add_argument("--seed", type=int, help="seed of the training renders; the scored ones use seed + 1 (default: params seed)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    # Here, not at import: these load torch and Lightning (~10 s), which the other skins subcommands do not need.
    from models.overlay_parser.adapt import AdaptConfig, adapt_parser
    from tasks.extract import ExtractConfig
    from tasks.parser_train import ParserTrainConfig

    root = project_root()
    params = load_params(root)
    extract = from_mapping(ExtractConfig, params.get("extract"), "extract")
    source = from_mapping(ParserTrainConfig, params.get("parser_train"), "parser_train")
    chosen = {"steps": args.steps, "samples": args.samples, "eval_samples": args.eval_samples, "curve_every": args.curve_every}
    cfg = from_mapping(AdaptConfig, {k: v for k, v in chosen.items() if v is not None}, "skins adapt")
    parser_dir = args.parser or root / extract.parser_dir
    out_dir = args.out or root / DEFAULT_OUT / args.skin
    seed = int(params.get("seed", 0)) if args.seed is None else args.seed
    skin_dirs = [root / d for d in (params.get("overlay") or {}).get("skin_dirs") or ()] + list(args.skin_dir)
    # The training's epoch lines go to stderr under --json: stdout holds the one JSON object.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = adapt_parser(parser_dir, args.skin, out_dir, cfg, source, seed, skin_dirs)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
        return 0
    print(f"adapted {result.parser_dir} to {result.skin}: {result.steps} steps on {result.train_pairs} pairs, "
          f"{result.wall_s / 60:.1f} min (renders {result.render_s:.0f} s, training {result.train_s:.0f} s)")
    print(f"fresh renders of {result.skin} ({result.eval_pairs} pairs, seed {result.seed + 1}):")
    print(f"  {'':8}" + "".join(f"{k:>22}" for k in result.before))
    for name, scores in (("before", result.before), ("after", result.after)):
        print(f"  {name:8}" + "".join(f"{v:>22.3f}" for v in scores.values()))
    print(f"wrote {result.out_dir} (README.md: the model card)")
    shown = _relative(Path(result.out_dir), root)
    print(f"use it: set extract.parser_dir: {shown} in params.yaml, or `padflow run --set extract.parser_dir={shown}`",
          file=sys.stderr)
    return 0


def _relative(path: Path, root: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(root.resolve())) if resolved.is_relative_to(root.resolve()) else str(resolved)
