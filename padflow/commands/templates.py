"""`padflow templates [--json] [--dir DIR] [--contact-sheet PATH] [--regenerate]`: the controller skin library."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from padflow.overlay.library import BUILTIN_SKIN_DIR, is_held_out, load_library
from padflow.overlay.skingen import regenerate_library


def register(subparsers) -> None:
    p = subparsers.add_parser("templates", help="list the controller skins (id, kind, family, held out) and draw a contact sheet")
    p.add_argument("--json", action="store_true", help="print one JSON object: {skins: [...], families: {...}}")
    p.add_argument("--dir", action="append", default=[], type=Path, metavar="DIR",
                   help="also load the skins in DIR (repeatable); malformed ones are reported and skipped, "
                        "a folder with no skin fails")  # fmt: skip
    p.add_argument("--contact-sheet", type=Path, metavar="PATH", help="write a PNG contact sheet of the library to PATH")
    p.add_argument("--regenerate", action="store_true", help=f"redraw the built-in skins into {BUILTIN_SKIN_DIR}")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.regenerate:
        written = regenerate_library(BUILTIN_SKIN_DIR)
        print(f"regenerated {len(written)} built-in skins in {BUILTIN_SKIN_DIR}", file=sys.stderr)
    library = load_library(args.dir, skip_invalid=True)
    rows = [{"id": s.id, "kind": s.kind, "family": s.family, "held_out": is_held_out(s), "observed": len(s.observed)}
            for s in library.skins.values()]  # fmt: skip
    families = dict(sorted(Counter(r["family"] for r in rows).items()))
    rejected = [{"layout": str(path), "reason": reason} for path, reason in library.rejected]
    # A --dir that gives no skin is a mistake the user must hear about: the library would silently be the built-in one.
    empty = [d for d in args.dir if not any(s.layout_path.parent.resolve() == d.resolve() for s in library.skins.values())]
    if args.contact_sheet:
        from padflow.overlay.sheet import contact_sheet  # imports the game emulator; only when asked

        contact_sheet(args.contact_sheet, library)
        print(f"wrote {args.contact_sheet}", file=sys.stderr)
    if args.json:
        print(json.dumps({"skins": rows, "families": families, "rejected": rejected, "empty_dirs": [str(d) for d in empty]}, indent=2))
    else:
        width = max(len("id"), *(len(r["id"]) for r in rows))
        print(f"{'id'.ljust(width)}  {'kind'.ljust(10)}  {'family'.ljust(12)}  drawn  held_out")
        for r in rows:
            print(f"{r['id'].ljust(width)}  {r['kind'].ljust(10)}  {r['family'].ljust(12)}  {r['observed']:>5}  {'yes' if r['held_out'] else ''}")
        held = sum(r["held_out"] for r in rows)
        print(f"\n{len(rows)} skins ({held} held out): " + ", ".join(f"{f} {n}" for f, n in families.items()))
    for r in rejected:
        print(f"rejected {r['layout']}: {r['reason']}", file=sys.stderr)
    for d in empty:
        print(f"padflow templates: {d}: no skins found (a skin is a layout <id>.json plus its PNG; see docs/skins.md)", file=sys.stderr)
    return 1 if rejected or empty else 0
