"""Transfer over several held-out games: each game's fine-tuned − scratch and relative improvement, and their
average over games (NitroGen reports the average relative improvement over its held-out games), with 95% intervals.

    python bench/transfer_games.py OUT [OUT ...] [--json]

Each OUT is one `padflow transfer` out_dir (its summary.json names the held-out game; eval/<run>/summary.json holds
each arm's per-task rates, read as the transfer experiment reads them: padflow.players.report.task_counts). A (mode,
data fraction) pair is averaged over the games whose runs all have it. Intervals: padflow.stats.games_interval
(Jeffreys posterior per task; each game weighted alike). The runs need not share a corpus or episode count; the note
beside the figures should say where they differ. Zero-shot: the pre-trained policy's mean rate over the game's tasks.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from padflow.experiments.transfer import PRETRAIN, SCRATCH, SUMMARY_FILE
from padflow.players.policy import POLICY
from padflow.players.report import task_counts
from padflow.stats import games_interval
from tasks.evaluate import SUMMARY_FILE as EVALUATE_SUMMARY_FILE

FINETUNE_RUN = re.compile(r"finetune_(?P<mode>.+)_f(?P<fraction>[0-9.]+)$")


def policy_counts(run_dir: Path) -> dict[str, tuple[int, int]]:
    """task id → (successes, episodes) of the run's policy."""
    tasks = json.loads((run_dir / EVALUATE_SUMMARY_FILE).read_text())["tasks"]
    return {task: (s, n) for task, (_split, s, n) in task_counts(tasks, POLICY).items()}


def game_runs(out: Path) -> tuple[str, dict[tuple[str, str], tuple[list, list]], float]:
    """(held-out game, {(mode, fraction): (fine-tuned counts, scratch counts)} on shared tasks, zero-shot rate)."""
    summary_path = out / SUMMARY_FILE
    if not summary_path.is_file():
        raise SystemExit(f"{out}: no {SUMMARY_FILE}; pass a `padflow transfer` out_dir")
    game = json.loads(summary_path.read_text())["game"]
    evals = out / "eval"
    pairs = {}
    for run in sorted(p.name for p in evals.iterdir() if p.is_dir()):
        match = FINETUNE_RUN.match(run)
        scratch_run = evals / f"{SCRATCH}_f{match['fraction']}" if match else None
        if scratch_run is None or not scratch_run.is_dir():
            continue
        tuned, scratch = policy_counts(evals / run), policy_counts(scratch_run)
        tasks = sorted(tuned.keys() & scratch.keys())
        pairs[(match["mode"], match["fraction"])] = ([tuned[t] for t in tasks], [scratch[t] for t in tasks])
    zero = [s / n for s, n in policy_counts(evals / PRETRAIN).values()]
    return game, pairs, sum(zero) / len(zero)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outs", type=Path, nargs="+", help="`padflow transfer` out_dirs, one held-out game each")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()
    games = [game_runs(out) for out in args.outs]
    keys = sorted(set.intersection(*(set(pairs) for _, pairs, _ in games)), key=lambda k: (k[0], -float(k[1])))
    results = []
    for mode, fraction in keys:
        per_game = [(game, pairs[(mode, fraction)], zero) for game, pairs, zero in games]
        row = {"mode": mode, "fraction": float(fraction), "games": {}}
        for game, (tuned, scratch), zero in per_game:
            diff = games_interval([(tuned, scratch)], relative=False)
            rel = games_interval([(tuned, scratch)], relative=True)
            row["games"][game] = {"tasks": len(tuned), "zero_shot": zero, "difference": diff, "relative": rel}
        both = [counts for _, counts, _ in per_game]
        row["average"] = {"difference": games_interval(both, relative=False), "relative": games_interval(both, relative=True)}
        results.append(row)
    if args.json:
        print(json.dumps(results))
        return 0

    def fmt(point, low, high, pct=False):
        f = (lambda v: f"{v * 100:+.0f} %") if pct else (lambda v: f"{v:+.2f}")
        return f"{'—' if point is None else f(point)} [{f(low)}, {f(high)}]"

    print("| mode | data | game | tasks | zero-shot | fine-tuned − scratch | relative improvement |")
    print("|---|---|---|---|---|---|---|")
    for row in results:
        for game, g in row["games"].items():
            print(f"| {row['mode']} | {row['fraction']:g} | {game} | {g['tasks']} | {g['zero_shot']:.2f} | "
                  f"{fmt(*g['difference'])} | {fmt(*g['relative'], pct=True)} |")
        avg = row["average"]
        print(f"| {row['mode']} | {row['fraction']:g} | **average of {len(row['games'])}** | | | "
              f"{fmt(*avg['difference'])} | {fmt(*avg['relative'], pct=True)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
