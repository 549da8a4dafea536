"""`padflow score-idm [--json]`: the IDM's labels against the corpus ground truth and the overlay labels.

Scores the pseudo_label stage's tables of overlay-free videos against what was really pressed, and
the IDM (labelling each whole video) on idm_train's held-out overlay videos against the true
actions and the overlay-extracted labels, overall and by game (definitions: models/idm/scoring.py).
Folders come from the `pseudo_label` section of params.yaml. The pseudo_label stage computes the
same report and logs its headline figures to MLflow and metrics/pseudo_label.json.
"""

from __future__ import annotations

import json
from typing import Any

from padflow.config import PARAMS_FILE, load_section, project_root
from tasks.pseudo_label import PseudoLabelConfig, score_idm


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "score-idm",
        help="button accuracy and F1, stick R² of the IDM's pseudo-labels and of the IDM on held-out overlay videos",
        description="Folders come from the `pseudo_label` section of params.yaml (out_dir, idm_dir, index, truth_dir, ingest_dir).",
    )
    p.add_argument("--json", action="store_true", help="print the whole report as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    root = project_root()
    cfg = load_section(PseudoLabelConfig, "pseudo_label") if (root / PARAMS_FILE).is_file() else PseudoLabelConfig()
    report = score_idm(cfg, root)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    groups = {"pseudo-labels vs truth (overlay-free videos)": report["pseudo_labels"],
              "IDM vs truth (held-out overlay videos)": report["heldout_overlay"]["vs_truth"],
              "IDM vs overlay labels (held-out overlay videos)": report["heldout_overlay"]["vs_overlay_labels"]}
    for title, group in groups.items():
        print(f"{title}: {group['videos']} videos")
        for label, s in {"all": group["all"], **group["by_game"]}.items():
            axes = "  ".join(f"{k} {_fmt(v)}" for k, v in s["stick_r2_axes"].items())
            print(f"  {label:10s} frames {s['frames']:6d}  buttons acc {_fmt(s['button_accuracy'])} (never-press "
                  f"{_fmt(s['baseline_button_accuracy'])})  F1 {_fmt(s['button_f1'])}  stick R² {axes}")
    return 0


def _fmt(value: Any) -> str:
    return "  n/a" if value is None else f"{value:.3f}"
