"""parser_train: train the overlay parser on synthetic renders of the skin library.

Training renders come from the skins that are not held out — the built-in library plus every
folder of params `overlay.skin_dirs` (user skins of either kind; dvc.yaml lists those folders as
deps, so adding a skin retrains); two validation sets are rendered with other seeds, one from the
training skins and one from the held-out skins the parser never sees (library.HELD_OUT_SKINS and
any layout with `"held_out": true`), so the held-out numbers measure generalization to new designs.
The training skins also include `style_skins` skins of padflow.overlay.styles (other drawing
styles and pressed looks than the library's); a third validation set renders that generator's
held-out styles (`style_held_out_skins`), never trained on.

The training itself is models/overlay_parser/training.py's `fit_parser`, run as the policy's
is (models/training.py): Lightning logs into the stage's MLflow run, keeps checkpoints/last.ckpt
and resumes from it when config, seed and data match.

The shipped parser (params `asset`, default assets/parser; models/overlay_parser/asset.py): when its
fingerprint of what it was trained from (config, skins, backgrounds, renderer, code) equals this run's,
its weights are copied in instead of training (~10 of the default run's minutes); the validation sets
are still rendered and scored here, so the validation metrics are measured on every run. The training
figures (loss, samples/s, the curves) are then the asset's build's, and `parser_from_asset` is 1.
Otherwise the stage trains and says which part differs. `build_asset` (`padflow parser-asset`)
rebuilds the asset: this stage with `asset: null` in a fresh folder, then the asset folder.

Outputs (under out_dir):
    parser.safetensors, parser_config.json   what extract loads (models.overlay_parser.load_parser)
    README.md                                the model card: render data, params, metrics, intended use
    renders/<split>.npz                      the rendered crops and labels (padflow.overlay.synth); no train.npz
                                             when the weights came from the asset
    report/confusion.png, report/loss.png    held-out per-button confusion matrices, loss curve
    checkpoints/last.ckpt, checkpoints/run.json   the Lightning checkpoint a rerun resumes from
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field

from models.card import write_card
from models.overlay_parser import ParserConfig, load_parser, save_parser
from models.overlay_parser.asset import Fingerprint, ParserAsset, fingerprint, install_weights, read_asset, write_asset
from models.overlay_parser.training import fit_parser, pair_observed, pair_skins, predict_set, score
from padflow import progress
from padflow.actions import BUTTONS, N_BUTTONS
from padflow.config import config, from_mapping
from padflow.fanout import TaskRunnerConfig, runner_config
from padflow.io import save_figure
from padflow.overlay.library import BUILTIN_SKIN_DIR, AnySkin, load_library
from padflow.overlay.styles import parametric_variants, style_skins
from padflow.overlay.synth import RenderSet, SynthConfig, render_digest, render_split, save_shard
from padflow.players.footage import collect_backgrounds
from padflow.stages import ModelExport, StageResult

SPLITS = ("train", "val_train_skins", "val_held_out", "val_held_out_styles")  # the last only when style_held_out_skins > 0
FIGURE_DPI = 110  # confusion matrices hold 17 small panels: a little sharper than the default
PARSER_MODEL = "padflow-overlay-parser"  # registered model name (models/pyfunc.py wraps it)
# The champion alias moves on this held-out score: every button of a frame right, on skins the parser never saw (sticks,
# scored by R², move with it; a single frame-level number is what extract's tables depend on).
CHAMPION_METRIC = "val_held_out_button_frame_accuracy"
# Knobs that change neither the renders nor the training trajectory: a rerun that only changes
# these still resumes from last.ckpt (and, with out_dir, they are not in the asset's fingerprint).
RUNTIME_ONLY = ("threads", "render_workers", "asset")
ASSET_COMMAND = "uv run padflow parser-asset"  # padflow/commands/parser_asset.py: rebuilds the shipped parser
# Figures of the training run itself: with the shipped parser they are its build's (asset.json), not measured.
TRAINING_METRICS = ("train_samples_per_s", "train_pairs", "final_loss", "resumed_from_step")


@config
class ParserTrainConfig:
    train_samples: Annotated[int, Field(ge=1, description=(
        "training pairs (previous crop, current crop), from non-held-out skins only; rendered as clips of synth.frames_per_clip frames"))] = 8000
    val_samples: Annotated[int, Field(ge=1, description="pairs in each validation set (training skins; held-out skins)")] = 2000
    curve_samples: Annotated[int, Field(ge=1, description=(
        "pairs of each validation set scored after every epoch for the curves (the final figures use all)"))] = 500
    epochs: Annotated[int, Field(ge=1, description="passes over the training pairs")] = 6
    batch_size: Annotated[int, Field(ge=1, description="pairs per optimizer step")] = 64
    lr: Annotated[float, Field(gt=0, description=(
        "peak AdamW learning rate, reached after warmup and decayed by a cosine to 0; NitroGen trains with 1e-4 for "
        "many GPU-hours, a few CPU-minutes need more"))] = 0.002
    weight_decay: Annotated[float, Field(ge=0, description="AdamW decoupled weight decay (NitroGen's value); norms and biases are not decayed")] = 0.1
    warmup_steps: Annotated[int, Field(ge=0, description="optimizer steps of linear warmup from 0 to lr")] = 100
    threads: Annotated[int, Field(ge=1, description="torch intra-op threads (fixed, for reproducible timings and results)")] = 2
    render_workers: Annotated[int, Field(ge=1, description="processes rendering clips")] = 2
    style_skins: Annotated[int, Field(ge=0, description=(
        "skins of the style generator (padflow.overlay.styles: outline art, gradients, pixel art, semi-transparent bodies, "
        "dark / subtle / glow / fade pressed looks) added to the training skins, so the parser learns what changed on a "
        "controller rather than one drawing style; 0 = library skins only (the default until a full-size run shows the mix "
        "does not cost the library's held-out skins; the large profile trains on 48)"))] = 0
    style_held_out_skins: Annotated[int, Field(ge=0, description=(
        "skins of the generator's held-out styles (never trained on) in the val_held_out_styles set; 0 = no such set "
        "(it costs renders: ~2,000 pairs at 16)"))] = 0
    parametric_variants: Annotated[int, Field(ge=0, description=(
        "parametric skins redrawn by skingen from another seed (new colours, glyphs, pressed looks) added to the training skins"))] = 0
    background_tasks: Annotated[tuple[str, ...], Field(min_length=1, description="games whose frames sit behind the overlay")] = (
        "pong_score_point", "ms_pacman_eat_30_dots", "freeway_cross_once", "boxing_score_10",
        "doom_basic_first_shot", "doom_defend_center_kill5", "crafter_collect_wood",
    )  # fmt: skip
    background_frames: Annotated[int, Field(ge=1, description="game frames kept per background task")] = 48
    background_stride: Annotated[int, Field(ge=1, description="keep every n-th engine frame")] = 3
    model: Annotated[ParserConfig, Field(description="ParserConfig fields (crop_size, hidden_sizes, depths, ...); {} = its defaults")] = field(default_factory=ParserConfig)
    synth: Annotated[SynthConfig, Field(description="SynthConfig fields (opacity, compression shares, localization error, ...); {} = its defaults")] = field(default_factory=SynthConfig)
    out_dir: Annotated[str, Field(description="the parser, its renders, report and checkpoints")] = "data/parser"
    asset: Annotated[str | None, Field(description=(
        "folder of the shipped parser, relative to the project (models/overlay_parser/asset.py): its weights are used "
        "instead of training when its fingerprint (config, skins, backgrounds, renderer, code) equals this run's, and the "
        "validation sets are still rendered and scored; a mismatch trains and names the part that differs. Saves the "
        "~10 training minutes of the default run; rebuild with `uv run padflow parser-asset`; null = always train"))] = "assets/parser"

    def __post_init__(self) -> None:
        if self.model.crop_size != self.synth.crop_size:
            raise ValueError(f"synth.crop_size {self.synth.crop_size} must equal model.crop_size {self.model.crop_size}")
        if self.model.stick_size != self.synth.stick_size:
            raise ValueError(f"synth.stick_size {self.synth.stick_size} must equal model.stick_size {self.model.stick_size}")

    def clips(self, samples: int) -> int:
        return math.ceil(samples / (self.synth.frames_per_clip - 1))


def split_skins(cfg: ParserTrainConfig, root: Path, skin_dirs: tuple[str, ...]) -> tuple[dict[str, dict[str, AnySkin]], dict[str, str]]:
    """The skins of each render set (training skins only in `train`) and each skin's family."""
    library = load_library([root / d for d in skin_dirs])
    train_skins: dict[str, AnySkin] = {i: library.skins[i] for i in library.training_ids()}
    train_skins.update(style_skins(cfg.style_skins))
    train_skins.update(parametric_variants(cfg.parametric_variants))
    held_out = {i: library.skins[i] for i in library.held_out_ids()}
    skins = {"train": train_skins, "val_train_skins": train_skins, "val_held_out": held_out}
    held_out_styles = style_skins(cfg.style_held_out_skins, held_out=True)
    if held_out_styles:
        skins["val_held_out_styles"] = held_out_styles
    families = {i: s.family for i, s in (*library.skins.items(), *train_skins.items(), *held_out_styles.items())}
    return skins, families


def render_sets(cfg: ParserTrainConfig, seed: int, skins: Mapping[str, Mapping[str, AnySkin]], backgrounds: list[np.ndarray],
                runner: TaskRunnerConfig = TaskRunnerConfig()) -> dict[str, RenderSet]:
    """A render set per split of `skins` (train_samples pairs for `train`, val_samples for the others); renders fan out on `runner`."""
    return {split: render_split(dict(drawn), cfg.clips(cfg.train_samples if split == "train" else cfg.val_samples),
                                backgrounds, cfg.synth, seed, split, cfg.render_workers, runner)
            for split, drawn in skins.items()}


def current_fingerprint(cfg: ParserTrainConfig, seed: int, root: Path, skin_dirs: tuple[str, ...],
                        skins: Mapping[str, Mapping[str, AnySkin]], backgrounds: list[np.ndarray]) -> Fingerprint:
    """The asset fingerprint of training with `cfg` now (models/overlay_parser/asset.py says what is in it)."""
    record = {k: v for k, v in asdict(cfg).items() if k not in (*RUNTIME_ONLY, "out_dir")}
    folders = {"builtin": BUILTIN_SKIN_DIR, **{d: root / d for d in skin_dirs}}
    return fingerprint(record, seed, folders, skins, backgrounds, cfg.synth)


def fingerprint_for(params: Mapping[str, Any], root: Path) -> Fingerprint:
    """current_fingerprint of the run `params` (a profile's) describes: what a shipped parser must match to be used."""
    cfg = from_mapping(ParserTrainConfig, params.get("parser_train"), "parser_train")
    seed = int(params.get("seed", 0))
    skin_dirs = tuple((params.get("overlay") or {}).get("skin_dirs") or ())
    skins, _ = split_skins(cfg, root, skin_dirs)
    backgrounds = collect_backgrounds(cfg.background_tasks, cfg.background_frames, cfg.background_stride, seed)
    return current_fingerprint(cfg, seed, root, skin_dirs, skins, backgrounds)


def shipped_parser(cfg: ParserTrainConfig, seed: int, root: Path, skin_dirs: tuple[str, ...],
                   skins: Mapping[str, Mapping[str, AnySkin]], backgrounds: list[np.ndarray]) -> ParserAsset | None:
    """The shipped parser when it was trained from what this run would train from; else None, after a line saying why."""
    if cfg.asset is None:
        return None
    found = read_asset(root / cfg.asset)
    if found is None:
        progress.say(f"parser_train: no shipped parser in {cfg.asset}: training; build one with {ASSET_COMMAND}")
        return None
    now = current_fingerprint(cfg, seed, root, skin_dirs, skins, backgrounds)
    differs = now.differs(found.fingerprint)
    if differs:
        progress.say(f"parser_train: the shipped parser {cfg.asset} was trained from another {' / '.join(differs)} "
                     f"(fingerprint {found.fingerprint.digest}, now {now.digest}): training; rebuild it with {found.command}")
        return None
    return found


def confusion_figure(pred: np.ndarray, truth: np.ndarray, path: Path, title: str) -> Path:
    """A 2x2 confusion matrix per button (rows: true released/pressed, columns: predicted)."""
    import matplotlib  # here, not at import: the file-only backend is chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 6
    rows = math.ceil(N_BUTTONS / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows))
    for k, ax in enumerate(axes.flat):
        if k >= N_BUTTONS:
            ax.axis("off")
            continue
        m = np.array([[np.sum((truth[:, k] == a) & (pred[:, k] == b)) for b in (0, 1)] for a in (0, 1)])
        ax.imshow(m / np.maximum(m.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        for a in (0, 1):
            for b in (0, 1):
                ax.text(b, a, str(m[a, b]), ha="center", va="center", fontsize=8)
        ax.set_title(BUTTONS[k], fontsize=8)
        ax.set_xticks([0, 1], ["off", "on"], fontsize=7)
        ax.set_yticks([0, 1], ["off", "on"], fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path, dpi=FIGURE_DPI)


def loss_figure(losses: list[float], path: Path) -> Path:
    import matplotlib  # here, not at import: the file-only backend is chosen before pyplot loads

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(losses, lw=0.6, alpha=0.5, label="step")
    window = max(1, len(losses) // 50)
    ax.plot(np.convolve(losses, np.ones(window) / window, mode="valid"), lw=1.5, label=f"mean of {window}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=FIGURE_DPI)



def stage(params: Mapping[str, Any], root: Path, out_dir: Path | None = None) -> StageResult:
    """The DVC stage: render, train (or take the shipped parser), validate on training and held-out skins, save the parser.

    `out_dir` replaces the config's (build_asset trains elsewhere; the card keeps the profile's params).
    """
    cfg = from_mapping(ParserTrainConfig, params.get("parser_train"), "parser_train")
    seed = int(params.get("seed", 0))
    skin_dirs = tuple((params.get("overlay") or {}).get("skin_dirs") or ())
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    out_dir = root / cfg.out_dir if out_dir is None else out_dir

    skins, families = split_skins(cfg, root, skin_dirs)
    backgrounds = collect_backgrounds(cfg.background_tasks, cfg.background_frames, cfg.background_stride, seed)
    shipped = shipped_parser(cfg, seed, root, skin_dirs, skins, backgrounds)
    # The shipped parser needs no training renders: only the sets it is scored on.
    sets = render_sets(cfg, seed, {k: v for k, v in skins.items() if shipped is None or k != "train"}, backgrounds,
                       runner_config(params, "parser_train"))
    for split, renders in sets.items():
        save_shard(renders, out_dir / "renders" / f"{split}.npz")
    val_names = [split for split in SPLITS[1:] if split in sets]
    if shipped is None:
        record = {k: v for k, v in asdict(cfg).items() if k not in RUNTIME_ONLY}
        module, resumed_from = fit_parser(cfg, sets, val_names, seed, out_dir, record)
        model, losses, curves = module.parser, module.train_losses, module.curves()
        save_parser(model, out_dir)
        training = {
            "train_samples_per_s": round(module.trained_steps * cfg.batch_size / max(module.trained_s, 1e-9), 1),
            "train_pairs": sets["train"].pairs,
            "final_loss": float(np.mean(losses[-20:])),
            "resumed_from_step": resumed_from,
        }
        source = "trained by this run"
    else:
        (out_dir / "renders" / "train.npz").unlink(missing_ok=True)  # an earlier training run's, not this parser's renders
        install_weights(shipped, out_dir)
        model = load_parser(out_dir)
        curves = {k: v for k, v in shipped.curves.items() if k != "train_loss"}
        losses = list(shipped.curves.get("train_loss", []))
        training = {k: shipped.metrics[k] for k in TRAINING_METRICS if k in shipped.metrics}
        source = (f"from the shipped asset {cfg.asset} (fingerprint {shipped.fingerprint.digest}), not retrained; validation "
                  f"rendered and scored by this run; rebuild: {shipped.command}")

    metrics: dict[str, float] = {
        **training,
        "renders_per_s": round(float(np.mean([s.renders_per_s for s in sets.values()])), 1),
        "parser_from_asset": int(shipped is not None),
    }
    report = out_dir / "report"
    for split in val_names:
        pred, conf, truth = predict_set(model, sets[split])
        observed = pair_observed(sets[split], np.arange(len(pred)))  # controls a skin does not draw are not scored
        metrics.update({f"{split}_{k}": round(v, 5) for k, v in score(pred, truth, observed).items()})
        metrics[f"{split}_mean_confidence"] = round(float(conf.mean()), 5)
        split_skin_ids = pair_skins(sets[split])
        for family in sorted({families[s] for s in split_skin_ids}):
            rows = np.array([families[s] == family for s in split_skin_ids])
            metrics[f"{split}_{family}_button_frame_accuracy"] = round(score(pred[rows], truth[rows], observed[rows])["button_frame_accuracy"], 5)
        if split == "val_held_out":
            confusion_figure(pred, truth, report / "confusion.png", "held-out skins: per-button confusion (rows true, columns predicted)")
    if losses:
        loss_figure(losses, report / "loss.png")
    training_skins = sets["train"].skin_ids if "train" in sets else skins["train"]
    write_parser_card(out_dir, cfg, seed, metrics, sets, families, training_skins, source)
    first_pair, _ = sets["val_held_out"].pair_batch(np.arange(1))
    return StageResult(
        params={"parser_train": asdict(cfg), "seed": seed, "parser_source": "asset" if shipped else "trained"},
        metrics=metrics,
        # the parser itself (weights, config, card) is logged once, as the registered MLflow model
        artifacts={"parser_report": report},
        curves={"train_loss": losses, **curves},
        models=[ModelExport(PARSER_MODEL, out_dir, {f: np.asarray(v) for f, v in first_pair._asdict().items()},
                            score=(CHAMPION_METRIC, metrics[CHAMPION_METRIC]))],
    )


def build_asset(params: Mapping[str, Any], root: Path, folder: Path, command: str) -> tuple[dict[str, float], Fingerprint]:
    """Rebuild the shipped parser: this stage as `params` say but with `asset: null`, trained in a fresh folder beside
    `folder`; `folder` is replaced (weights, card, asset.json with `command`) only when training succeeded.

    Returns the metrics recorded (the stage's, and its wall seconds) and the fingerprint. The fingerprint is
    taken before training, from the code and files this process rendered and trained with.
    """
    folder = Path(folder).resolve()
    fp = fingerprint_for(params, root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for stale in folder.parent.glob(f".{folder.name}.build-*"):  # a killed build's renders (hundreds of MB)
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f".{folder.name}.build-", dir=folder.parent) as work:
        started = time.perf_counter()
        result = stage({**params, "parser_train": {**(params.get("parser_train") or {}), "asset": None}}, root, Path(work))
        metrics = {**result.metrics, "parser_train_wall_s": round(time.perf_counter() - started, 1)}
        write_asset(folder, Path(work), fp, command, metrics, result.curves, str(params.get("profile", "")))
    return metrics, fp


def write_parser_card(folder: Path, cfg: ParserTrainConfig, seed: int, metrics: Mapping[str, float], sets: Mapping[str, RenderSet],
                      families: Mapping[str, str], training_skins: Iterable[str], source: str) -> Path:
    """README.md beside the weights; `source` says where the weights came from (this run's training, or the shipped asset)."""
    digests = {split: render_digest(renders) for split, renders in sets.items()}
    data = {
        "weights": source,
        "digest": hashlib.sha256(json.dumps(digests, sort_keys=True).encode()).hexdigest()[:16],
        "render digests": ", ".join(f"{k} {v}" for k, v in digests.items()),
        "training skins": [f"{s} ({families[s]})" for s in sorted(set(training_skins))],
        "held-out skins (never trained on)": [f"{s} ({families[s]})" for s in sorted(set(sets["val_held_out"].skin_ids))],
        "backgrounds": f"frames of the simulator tasks {', '.join(cfg.background_tasks)}",
        "ingested videos": "none: the parser learns from synthetic renders, so no video manifest licence applies",
    }
    return write_card(
        folder, title="padflow overlay parser",
        summary=("A SegFormer-based overlay parser trained by padflow's parser_train stage on synthetic renders of the skin "
                 "library. Input: the previous and current rectified crops of a gamepad input overlay (and the stick "
                 "patches); output: the pad's 17 buttons and 4 stick axes as unified actions, and a confidence. The extract "
                 "stage runs it on every localized overlay."),
        data=data, params={"parser_train": asdict(cfg), "seed": seed}, metrics=metrics,
        intended_use=("Reading gamepad input overlays of gameplay videos into action tables (padflow's extract stage), "
                      "for skins like those of the library; held-out-skin metrics measure designs it never saw."),
        limitations=("Skins far from the library (other layouts, heavy stylization) read worse than the held-out metrics "
                     "suggest; an overlay no skin explains is recorded unknown_skin by extract, not parsed."),
        usage=("```python\nfrom models.overlay_parser import OverlayParser\nparser = OverlayParser.from_pretrained(\"this/folder\")"
               "\n# or, registered in MLflow:\nimport mlflow\nmodel = mlflow.pyfunc.load_model(\"models:/padflow-overlay-parser@champion\")"
               "\nout = model.predict({field: array for field in ParserBatch._fields})  # actions (N, 21), confidence (N,)\n```"),
        tags=["overlay-parser", "gamepad"],
    )
