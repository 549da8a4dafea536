"""`padflow parser-asset`: rebuild the shipped overlay parser (params `parser_train.asset`, default assets/parser).

    padflow parser-asset [--profile NAME] [--out DIR]

A shell over tasks.parser_train.build_asset: trains parser_train exactly as the profile says
(params.yaml and profiles/NAME.yaml; run.yaml's `--set` overrides are not applied, so the asset is
the profile's), in a fresh folder beside DIR, and replaces DIR (weights, model card, asset.json:
fingerprint, this command, metrics) only when training succeeded. The default profile's training
takes ~15-25 minutes on 2 CPU cores. What the fingerprint holds: models/overlay_parser/asset.py.
"""

from __future__ import annotations

from pathlib import Path

from padflow.config import DEFAULT_PROFILE, load_params, project_root

COMMAND = "uv run padflow parser-asset"  # what asset.json records, with the arguments that differ from the defaults


def register(sub) -> None:
    p = sub.add_parser("parser-asset", help="retrain the overlay parser and write it as the shipped asset (assets/parser)")
    p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"params profile to train with (default: {DEFAULT_PROFILE}, the profile whose asset the tests check)")
    p.add_argument("--out", type=Path, help="asset folder to write (default: the profile's parser_train.asset)")
    p.set_defaults(func=run)


def run(args) -> int:
    root = project_root()
    params = load_params(root, profile=args.profile, overrides={})
    default_out = (params.get("parser_train") or {}).get("asset")
    if args.out is None and not default_out:
        raise ValueError(f"profile {args.profile}: parser_train.asset is null (it always trains); pass --out DIR to build an asset anyway")
    out = args.out if args.out is not None else Path(default_out)
    command = COMMAND + (f" --profile {args.profile}" if args.profile != DEFAULT_PROFILE else "")
    command += f" --out {out}" if args.out is not None and str(out) != str(default_out) else ""
    # Here, not at import: the stage loads torch and Lightning (~10 s), which a bad argument should not wait for.
    from tasks.parser_train import build_asset

    m, fp = build_asset(params, root, out if out.is_absolute() else root / out, command)
    print(f"wrote {out}: fingerprint {fp.digest} ({', '.join(f'{k} {v}' for k, v in fp.parts.items())}), "
          f"trained in {m['parser_train_wall_s'] / 60:.1f} min")
    print(f"held-out skins: button accuracy {m['val_held_out_button_accuracy']:.4f}, whole-frame {m['val_held_out_button_frame_accuracy']:.4f}, "
          f"stick R² {m['val_held_out_stick_r2']:.4f}; training skins: button accuracy {m['val_train_skins_button_accuracy']:.4f}")
    return 0
