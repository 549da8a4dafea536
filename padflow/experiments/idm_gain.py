"""idm_gain: what do the IDM's pseudo-labels of overlay-free videos add to the policy? (VPT's question; docs/idm.md)

The policy is trained, with the train section's model, optimizer, steps and seed, on four sets
of chunks and each policy is rolled out on the evaluate section's tasks (trained and held-out)
on the same seeds:

    overlay        the gate's chunks (labels read from overlays): today's policy
    both           overlay + pseudo_label's chunks (labels the IDM inferred for overlay-free videos)
    idm            pseudo_label's chunks alone
    overlay_part   the first `overlay_fraction` of every overlay video's chunks: how completion
                   grows with overlay minutes, the yardstick for the exchange rate below

Reported per split: each arm's completion (mean over tasks), both − overlay and idm − overlay
with 95% intervals (padflow.stats.difference_interval: Jeffreys posterior per task), and the minutes
of labels each arm trained on. The exchange rate, overlay-free minutes worth one overlay minute,
is (gain per overlay minute) / (gain per pseudo-labelled minute) with gain per overlay minute
= (overlay − overlay_part) / the minutes overlay_part left out and gain per pseudo-labelled minute
= (both − overlay) / the pseudo-labelled minutes; it is given only when both differences are
positive with intervals above 0 (otherwise it says which is not, since a ratio of noise is no rate).

Not a nightly stage: `padflow idm-gain` runs it after the pipeline (pseudo_label's chunk index
must exist), logging under one MLflow run (tag padflow.stage=idm_gain). Training is transfer's
`fit` (the train stage's data and Lightning modules, no resume); evaluation is the evaluate stage's.

Outputs (out_dir):
    indexes/<arm>.parquet     the chunks each arm trained on
    <arm>/policy/             each arm's EMA policy
    eval/<arm>/               each arm's simulator evaluation (tasks/evaluate.py)
    idm_gain.md               the tables
    summary.json              every figure (the CLI's --json)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from padflow import tracking
from padflow.chunking import covered_frames
from padflow.config import config, from_mapping
from padflow.experiments.transfer import budget_index, fit, write_index
from padflow.fanout import TaskRunnerConfig, runner_config
from padflow.io import write_json, write_text
from padflow.players.policy import POLICY
from padflow.players.report import HELD_OUT, TRAINED, task_counts
from padflow.stats import difference_interval
from padflow.tables import IDM_LABELS, OVERLAY_LABELS, merge_chunk_indexes, read_chunk_index
from tasks.evaluate import EvaluateConfig, evaluate
from tasks.pseudo_label import REPORT_FILE as PSEUDO_LABEL_REPORT
from tasks.train import TrainConfig

log = logging.getLogger(__name__)

Arm = Literal["overlay", "both", "idm", "overlay_part"]
BASE: Arm = "overlay"  # every difference is against the policy trained on overlay labels alone
MARKDOWN_FILE = "idm_gain.md"
SUMMARY_FILE = "summary.json"
SECONDS_PER_MINUTE = 60.0


@config
class IdmGainConfig:
    arms: Annotated[tuple[Arm, ...], Field(min_length=2, description=(
        "policies to train and compare: overlay (gate chunks), both (+ pseudo-labels), idm (pseudo-labels only), "
        "overlay_part (overlay_fraction of the overlay chunks: the yardstick of the exchange rate); must include overlay"))] = (
        "overlay", "both", "idm", "overlay_part")
    overlay_fraction: Annotated[float, Field(gt=0, lt=1, description=(
        "share of each overlay video's chunks (its first ones) the overlay_part arm trains on"))] = 0.5
    episodes: Annotated[int, Field(ge=1, description="seeded episodes per task and arm (the same seeds for every arm)")] = 6
    workers: Annotated[int, Field(ge=1, description="evaluation jobs in parallel")] = 2
    out_dir: Annotated[str, Field(description="indexes, policies, evaluations and tables")] = "data/idm_gain"

    def __post_init__(self) -> None:
        if BASE not in self.arms:
            raise ValueError(f"arms must include {BASE!r} (every difference is against it), got {list(self.arms)}")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms lists an arm twice: {list(self.arms)}")


def arm_index(arm: str, train_cfg: TrainConfig, root: Path, fraction: float) -> Any:
    """The chunks an arm trains on (padflow.tables.merge_chunk_indexes over the gate's and pseudo_label's indexes)."""
    gate, pseudo = root / train_cfg.index, root / train_cfg.pseudo_index
    if arm in ("both", "idm") and not pseudo.is_file():
        raise ValueError(f"arm {arm!r} needs pseudo_label's chunk index {pseudo}: run the pipeline through pseudo_label first")
    if arm in ("both", "idm") and read_chunk_index(pseudo, allow_empty=True).empty:
        report = pseudo.parent / PSEUDO_LABEL_REPORT
        why = json.loads(report.read_text()).get("idm_admission", {}).get("reasons") if report.is_file() else None
        raise ValueError(f"arm {arm!r}: pseudo_label's chunk index {pseudo} has no chunk, nothing for the arm to add"
                         + (f" (the IDM was not admitted: {'; '.join(why)})" if why else ""))
    if arm == "overlay":
        return merge_chunk_indexes([gate], [OVERLAY_LABELS])
    if arm == "both":
        return merge_chunk_indexes([gate, pseudo], [OVERLAY_LABELS, IDM_LABELS])
    if arm == "idm":
        return merge_chunk_indexes([pseudo], [IDM_LABELS])
    return budget_index(merge_chunk_indexes([gate], [OVERLAY_LABELS]), fraction)


def label_minutes(index: Any) -> dict[str, float]:
    """Minutes of video covered by the index's chunks, per label source (overlapping chunks counted once)."""
    out: dict[str, float] = {}
    for (source, _video), chunks in index.groupby(["label_source", "video_id"], sort=True):
        covered = covered_frames(sorted(int(s) for s in chunks["start_frame"]), int(chunks["frames"].iloc[0]))
        out[source] = out.get(source, 0.0) + covered / float(chunks["fps"].iloc[0]) / SECONDS_PER_MINUTE
    return {k: round(v, 3) for k, v in out.items()}


def compare(a: Mapping[str, tuple[str, int, int]], b: Mapping[str, tuple[str, int, int]], split: str) -> dict[str, float] | None:
    """Mean over the split's tasks both played of a's rate − b's, with its 95% interval; None when none."""
    tasks = sorted(t for t in a if t in b and a[t][0] == split)
    if not tasks:
        return None
    diff, low, high = difference_interval([a[t][1:] for t in tasks], [b[t][1:] for t in tasks])
    return {"tasks": len(tasks), "difference": round(diff, 4), "ci_low": round(low, 4), "ci_high": round(high, 4)}


def mean_rate(counts: Mapping[str, tuple[str, int, int]], split: str) -> float | None:
    rates = [s / n for sp, s, n in counts.values() if sp == split]
    return round(float(np.mean(rates)), 4) if rates else None


def exchange_rate(diffs: Mapping[str, Any], minutes: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Overlay-free (pseudo-labelled) minutes worth one overlay minute, on trained tasks, or why it is not defined."""
    gain_idm, gain_overlay = diffs.get(("both", TRAINED)), diffs.get(("overlay_part", TRAINED))
    if gain_idm is None or gain_overlay is None:
        return {"value": None, "why": "needs the both and overlay_part arms"}
    # overlay − overlay_part is the gain of the overlay minutes overlay_part left out: its difference's sign flips.
    for name, d, sign in (("both − overlay", gain_idm, 1), ("overlay − overlay_part", gain_overlay, -1)):
        if (d["ci_low"] if sign > 0 else -d["ci_high"]) <= 0:
            low, high = sorted((sign * d["ci_low"], sign * d["ci_high"]))
            return {"value": None, "why": f"{name} is {sign * d['difference']:+.3f} [{low:+.3f}, {high:+.3f}]: not above 0"}
    idm_minutes = minutes["both"].get(IDM_LABELS, 0.0)
    left_out = minutes[BASE].get(OVERLAY_LABELS, 0.0) - minutes["overlay_part"].get(OVERLAY_LABELS, 0.0)
    per_idm, per_overlay = gain_idm["difference"] / idm_minutes, -gain_overlay["difference"] / left_out
    return {"value": round(per_overlay / per_idm, 3), "why": "gain per overlay minute / gain per pseudo-labelled minute"}


def idm_gain(cfg: IdmGainConfig, train_cfg: TrainConfig, eval_cfg: EvaluateConfig, root: Path, seed: int,
             runner: TaskRunnerConfig = TaskRunnerConfig()) -> dict[str, Any]:
    """Train and evaluate every arm; returns metrics, curves, the summary and the output folder."""
    out = root / cfg.out_dir
    indexes = {arm: arm_index(arm, train_cfg, root, cfg.overlay_fraction) for arm in cfg.arms}  # a missing input fails first
    minutes = {arm: label_minutes(index) for arm, index in indexes.items()}
    counts, runs = {}, {}
    for arm, index in indexes.items():
        index_file = write_index(index, out / "indexes" / f"{arm}.parquet")
        run_cfg = replace(train_cfg, index=str(index_file), label_sources=(OVERLAY_LABELS,), out_dir=str(out / arm),
                          frame_cache_dir=str(out / "frame_cache"), blind_arm=False)
        log.info("idm_gain: training %s on %d chunks (%s minutes) for %d steps", arm, len(index), minutes[arm], run_cfg.max_steps)
        runs[arm] = fit(run_cfg, root, seed)
        arm_eval = replace(eval_cfg, checkpoint=str(runs[arm]["policy_dir"]), episodes=cfg.episodes, baselines=(),
                           euler_steps_compare=(), workers=cfg.workers, videos_per_task=0, sim_mask="none",
                           out_dir=str(out / "eval" / arm))
        counts[arm] = task_counts(evaluate(arm_eval, root, seed, runner=runner)["summary"]["tasks"], POLICY)
    diffs = {(arm, split): compare(counts[arm], counts[BASE], split)
             for arm in cfg.arms if arm != BASE for split in (TRAINED, HELD_OUT)}
    diffs = {k: v for k, v in diffs.items() if v is not None}
    exchange = exchange_rate(diffs, minutes)
    rates = {arm: {split: mean_rate(counts[arm], split) for split in (TRAINED, HELD_OUT)} for arm in cfg.arms}
    summary = {
        "arms": list(cfg.arms), "episodes": cfg.episodes, "steps": train_cfg.max_steps, "seed": seed,
        "chunks": {arm: len(index) for arm, index in indexes.items()}, "minutes": minutes, "rates": rates,
        "differences": [{"arm": arm, "minus": BASE, "split": split, **d} for (arm, split), d in diffs.items()],
        "exchange_rate": exchange,
        "tasks": {arm: {t: {"split": sp, "successes": s, "episodes": n} for t, (sp, s, n) in c.items()} for arm, c in counts.items()},
        "val_loss": {arm: run["val_loss"] for arm, run in runs.items()},
    }
    write_json(out / SUMMARY_FILE, summary)
    write_text(out / MARKDOWN_FILE, markdown(summary))
    metrics: dict[str, float] = {}
    for arm in cfg.arms:
        metrics[f"{arm}.chunks"] = len(indexes[arm])
        metrics.update({f"{arm}.minutes_{source}": m for source, m in minutes[arm].items()})
        metrics.update({f"{arm}.{split}": r for split, r in rates[arm].items() if r is not None})
        metrics[f"{arm}.val_loss"] = round(runs[arm]["val_loss"], 6)
    for (arm, split), d in diffs.items():
        metrics.update({f"{arm}_minus_{BASE}.{split}": d["difference"], f"{arm}_minus_{BASE}.{split}.ci_low": d["ci_low"],
                        f"{arm}_minus_{BASE}.{split}.ci_high": d["ci_high"]})
    if exchange["value"] is not None:
        metrics["exchange_rate"] = exchange["value"]
    curves = {f"{arm}.train_loss": run["train_losses"] for arm, run in runs.items()}
    return {"metrics": metrics, "curves": curves, "summary": summary, "out_dir": out}


def markdown(summary: Mapping[str, Any]) -> str:
    lines = [
        "# What pseudo-labels add to the policy", "",
        f"Each arm trained {summary['steps']} steps (seed {summary['seed']}) and played {summary['episodes']} seeded episodes "
        "per task. Completion: mean over the split's tasks. Differences: against `overlay` [95% interval, Jeffreys posterior "
        "per task].", "",
        "| arm | chunks | overlay min | pseudo-labelled min | trained tasks | held-out tasks |", "|---|---|---|---|---|---|",
    ]
    for arm in summary["arms"]:
        m, r = summary["minutes"][arm], summary["rates"][arm]
        lines.append(f"| {arm} | {summary['chunks'][arm]} | {m.get(OVERLAY_LABELS, 0):.1f} | {m.get(IDM_LABELS, 0):.1f} | "
                     f"{_fmt(r[TRAINED])} | {_fmt(r[HELD_OUT])} |")
    lines += ["", "| difference | split | tasks | mean | 95% interval |", "|---|---|---|---|---|"]
    for d in summary["differences"]:
        lines.append(f"| {d['arm']} − {d['minus']} | {d['split']} | {d['tasks']} | {d['difference']:+.3f} | "
                     f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] |")
    exchange = summary["exchange_rate"]
    value = "not defined" if exchange["value"] is None else f"{exchange['value']:.2f}"
    lines += ["", f"Overlay-free minutes worth one overlay minute (trained tasks): **{value}** ({exchange['why']})."]
    return "\n".join(lines) + "\n"


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def run(params: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The experiment under one MLflow run (tag padflow.stage=idm_gain)."""
    cfg = from_mapping(IdmGainConfig, params.get("idm_gain"), "idm_gain")
    train_cfg = from_mapping(TrainConfig, params.get("train"), "train")
    eval_cfg = from_mapping(EvaluateConfig, params.get("evaluate"), "evaluate")
    seed = int(params.get("seed", 0))
    tracking.check_tracking(tracking.tracking_uri(root))
    with tracking.stage_run(root, "idm_gain", tags={"padflow.profile": str(params.get("profile", ""))}):
        result = idm_gain(cfg, train_cfg, eval_cfg, root, seed, runner_config(params, "evaluate"))
        out = result["out_dir"]
        tracking.log_stage({"idm_gain": asdict(cfg), "train": asdict(train_cfg), "seed": seed}, result["metrics"],
                           {"idm_gain": out / MARKDOWN_FILE, "idm_gain/summary": out / SUMMARY_FILE}, result["curves"])
    return result
