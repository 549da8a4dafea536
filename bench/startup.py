"""Process start-up: how long a fresh interpreter takes to import what a stage imports, for two environments side by side.

    python bench/startup.py PYTHON_A PYTHON_B [--repeats 5] [--json]

Each PYTHON is a virtual environment's interpreter (e.g. a clone's .venv/bin/python). Every
`padflow stage NAME` that dvc repro runs is a new process, as are `padflow run`'s flow and the
tests' subprocesses, so each pays this once. Measured per import (the CLI; the extract stage with
the overlay parser, which brings in transformers; the train stage with the policy and Lightning),
A and B alternately, `--repeats` times; prints each one's median seconds and B / A. The
environment is passed on as it is (PYTHONDONTWRITEBYTECODE included: where it is set, a package
installed without bytecode is compiled again in every process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time

IMPORTS = {
    "cli": "import padflow.cli",
    "extract": "import tasks.extract, models.overlay_parser",
    "train": "import tasks.train, models.policy, lightning",
}


def seconds(python: str, code: str) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="interpreter A")
    ap.add_argument("b", help="interpreter B")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = {}
    for name, code in IMPORTS.items():
        times: dict[str, list[float]] = {"a": [], "b": []}
        for _ in range(args.repeats):  # alternately: the shared machine's load falls on both alike
            times["a"].append(seconds(args.a, code))
            times["b"].append(seconds(args.b, code))
        a, b = statistics.median(times["a"]), statistics.median(times["b"])
        rows[name] = {"a_s": round(a, 2), "b_s": round(b, 2), "b_over_a": round(b / a, 3)}
    if args.json:
        print(json.dumps({"a": args.a, "b": args.b, "repeats": args.repeats, "imports": rows}, indent=2))
        return
    print(f"A {args.a}\nB {args.b}\n{'import':<10}{'A s':>8}{'B s':>8}{'B / A':>8}")
    for name, row in rows.items():
        print(f"{name:<10}{row['a_s']:>8}{row['b_s']:>8}{row['b_over_a']:>8}")


if __name__ == "__main__":
    main()
