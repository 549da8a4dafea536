"""`padflow templates [--json] [--dir DIR] [--contact-sheet PATH] [--regenerate]`: the controller skin library."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from padflow.overlay.library import BUILTIN_SKIN_DIR, HELD_OUT_SKINS, load_library
from padflow.overlay.skingen import regenerate_library


def register(subparsers) -> None:
    p = subparsers.add_parser("templates", help="list the controller skins (id, family, held out) and draw a contact sheet")
    p.add_argument("--json", action="store_true", help="print one JSON object: {skins: [...], families: {...}}")
    p.add_argument("--dir", action="append", default=[], type=Path, metavar="DIR",
                   help="also load the skins in DIR (repeatable); malformed ones are reported and skipped")  # fmt: skip
    p.add_argument("--contact-sheet", type=Path, metavar="PATH", help="write a PNG contact sheet of the library to PATH")
    p.add_argument("--regenerate", action="store_true", help=f"redraw the built-in skins into {BUILTIN_SKIN_DIR}")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.regenerate:
        written = regenerate_library(BUILTIN_SKIN_DIR)
        print(f"regenerated {len(written)} built-in skins in {BUILTIN_SKIN_DIR}", file=sys.stderr)
    library = load_library(args.dir, skip_invalid=True)
    rows = [{"id": s.id, "family": s.family, "held_out": s.id in HELD_OUT_SKINS} for s in library.skins.values()]
    families = dict(sorted(Counter(r["family"] for r in rows).items()))
    rejected = [{"layout": str(path), "reason": reason} for path, reason in library.rejected]
    if args.contact_sheet:
        from padflow.overlay.sheet import contact_sheet  # imports the game emulator; only when asked

        contact_sheet(args.contact_sheet, library)
        print(f"wrote {args.contact_sheet}", file=sys.stderr)
    if args.json:
        print(json.dumps({"skins": rows, "families": families, "rejected": rejected}, indent=2))
        return 1 if rejected else 0
    width = max(len("id"), *(len(r["id"]) for r in rows))
    print(f"{'id'.ljust(width)}  {'family'.ljust(12)}  held_out")
    for r in rows:
        print(f"{r['id'].ljust(width)}  {r['family'].ljust(12)}  {'yes' if r['held_out'] else ''}")
    held = sum(r["held_out"] for r in rows)
    print(f"\n{len(rows)} skins ({held} held out): " + ", ".join(f"{f} {n}" for f, n in families.items()))
    for r in rejected:
        print(f"rejected {r['layout']}: {r['reason']}", file=sys.stderr)
    return 1 if rejected else 0
