"""Adapting a trained overlay parser to one skin: a short fine-tune on renders of that skin alone.

`padflow skins adapt SKIN` (padflow/commands/skins_adapt.py) calls `adapt_parser`. The skin comes
from the library parser_train renders from (the built-in skins plus params `overlay.skin_dirs`,
held-out ones included: adapting to a skin is choosing to train on it). Everything else is
parser_train's: the renders are padflow.overlay.synth's, over the game frames of the stage's
`background_tasks` (padflow.players.footage), degraded as its `synth` says; the training is
training.py's ParserModule, started from the trained weights instead of a fresh parser; the result
is saved with save_parser and gets a model card (models/card.py).

Two render sets of the skin: `samples` training pairs (seed, split "adapt_train") and `eval_samples`
fresh pairs (seed + 1, split "adapt_eval": other placements, sizes, actions, degradations and moments
of the same game footage), never trained on. The base and the adapted parser are scored on the fresh set
(training.score: button F1 and accuracy, stick R² over the controls the skin draws), and every
`curve_every` steps the parser in training is too, so the card shows where the gain levels off.
"""

from __future__ import annotations

import difflib
import json
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Protocol

import lightning.pytorch as pl
import numpy as np
import torch
from pydantic import Field

from models.card import write_card
from models.overlay_parser.configuration import ParserConfig
from models.overlay_parser.modeling import CONFIG_FILE, WEIGHTS_FILE, OverlayParser, load_parser, save_parser
from models.overlay_parser.training import ParserModule, RenderDataModule, pair_observed, predict_set, score
from models.training import TrainingProgress
from padflow.config import config
from padflow.overlay.library import AnySkin, SkinLibrary, is_held_out, load_library
from padflow.overlay.synth import RenderSet, SynthConfig, render_digest, render_split
from padflow.players.footage import collect_backgrounds

LABEL = "skins adapt"  # what its progress and epoch lines start with
EVAL_SPLIT = "adapt_eval"
TRAIN_SPLIT = "adapt_train"
REPORTED = ("button_f1", "button_accuracy", "button_frame_accuracy", "stick_r2")  # the scores printed and carded
NEAR_MATCHES = 5  # ids suggested for an unknown skin


@config
class AdaptConfig:
    """How a trained parser is fine-tuned on one skin (`padflow skins adapt` flags override these)."""

    steps: Annotated[int, Field(ge=1, description=(
        "optimizer steps; on the two skins measured (docs/skins.md) whole-frame button accuracy levels off by ~150 and "
        "stick R² gains little after ~200"))] = 200
    samples: Annotated[int | None, Field(ge=1, description=(
        "training pairs rendered of the skin; null = steps x batch_size, each pair trained on once (2,000 pairs revisited "
        "over 400 steps scored worse after step 150 on nintendo-06); a large sprite skin renders ~20x slower than a "
        "built-in one, and 1,600 pairs scored as well as 6,400 on a 2048-px preset"))] = None
    eval_samples: Annotated[int, Field(ge=1, description="fresh pairs of the skin (another seed) scored before, during and after")] = 500
    batch_size: Annotated[int, Field(ge=1, description="pairs per optimizer step")] = 32
    lr: Annotated[float, Field(gt=0, description=(
        "peak AdamW learning rate, after warmup, decayed by a cosine to 0 at the last step; a quarter of parser_train's "
        "peak, as the weights start trained"))] = 5e-4
    weight_decay: Annotated[float, Field(ge=0, description=(
        "AdamW decoupled weight decay; 0: a few hundred steps from trained weights need no pull towards zero"))] = 0.0
    warmup_steps: Annotated[int, Field(ge=0, description="optimizer steps of linear warmup from 0 to lr")] = 20
    curve_every: Annotated[int, Field(ge=0, description=(
        "optimizer steps between scorings of the parser in training on the fresh renders (the card's curve); 0 = none"))] = 50


class RenderSource(Protocol):
    """What adaptation reads of parser_train's config (tasks/parser_train.py ParserTrainConfig): how its renders were made."""

    background_tasks: tuple[str, ...]
    background_frames: int
    background_stride: int
    synth: SynthConfig
    threads: int


@dataclass(frozen=True)
class FineTuning:
    """The ParserTrainingSettings ParserModule reads, for a fine-tune of `model` (training.py)."""

    model: ParserConfig
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_steps: int
    curve_samples: int


@dataclass(frozen=True)
class Adaptation:
    """What one adaptation did and measured (scores: training.score on the fresh renders)."""

    skin: str
    parser_dir: str  # the base parser, left as it was
    base_digest: str  # first 16 hex digits of the base weights' sha256
    out_dir: str
    steps: int
    train_pairs: int
    eval_pairs: int
    seed: int  # training renders; the fresh ones use seed + 1
    before: dict[str, float]
    after: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)  # {"step", *REPORTED}: step 0 is the base parser
    render_s: float = 0.0
    train_s: float = 0.0
    wall_s: float = 0.0


def find_skin(library: SkinLibrary, skin_id: str) -> AnySkin:
    """The library's skin `skin_id`; ValueError names it and the nearest ids when there is none."""
    if skin_id in library.skins:
        return library.skins[skin_id]
    near = difflib.get_close_matches(skin_id, list(library.skins), n=NEAR_MATCHES, cutoff=0.5)
    hint = f"nearest: {', '.join(near)}" if near else "no id is close"
    raise ValueError(f"skin {skin_id!r}: not in the library ({len(library.skins)} skins: the built-in ones and "
                     f"params overlay.skin_dirs); {hint}; `padflow skins list` shows them all")


def check_parser_dir(parser_dir: Path) -> None:
    """ValueError naming `parser_dir` when it holds no saved parser (before anything is rendered)."""
    if not parser_dir.is_dir():
        raise ValueError(f"{parser_dir}: parser folder not found (the parser_train stage writes one, params "
                         f"extract.parser_dir names it; --parser chooses another)")
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (parser_dir / name).is_file()]
    if missing:
        raise ValueError(f"{parser_dir}: not a parser folder ({' and '.join(missing)} missing)")


def scores(model: OverlayParser, renders: RenderSet) -> dict[str, float]:
    """REPORTED scores of `model` on every pair of `renders`, over the controls each pair's skin draws."""
    pred, _, truth = predict_set(model, renders)
    return {k: v for k, v in score(pred, truth, pair_observed(renders, np.arange(len(pred)))).items() if k in REPORTED}


def adapt_parser(parser_dir: Path, skin_id: str, out_dir: Path, cfg: AdaptConfig, source: RenderSource, seed: int,
                 skin_dirs: Sequence[Path] = ()) -> Adaptation:
    """Fine-tune the parser in `parser_dir` on renders of skin `skin_id`, save it with its card in `out_dir`.

    `skin_dirs`: the user skin folders besides the built-in ones. `parser_dir` is never written;
    `out_dir` is written only after the training and scoring succeeded.
    """
    started = time.perf_counter()
    parser_dir, out_dir = Path(parser_dir), Path(out_dir)
    check_parser_dir(parser_dir)
    if out_dir.resolve() == parser_dir.resolve():
        raise ValueError(f"{out_dir}: is the parser being adapted; the adapted one goes to another folder (--out)")
    skin = find_skin(load_library(skin_dirs), skin_id)
    base = load_parser(parser_dir)
    base_digest = str(_record(parser_dir).get("weights_sha256", ""))[:16]
    torch.set_num_threads(source.threads)

    # Crops of the base parser's sizes, whatever parser_train's synth says today.
    synth = replace(source.synth, crop_size=base.cfg.crop_size, stick_size=base.cfg.stick_size)
    backgrounds = collect_backgrounds(source.background_tasks, source.background_frames, source.background_stride, seed)
    per_clip = synth.frames_per_clip - 1  # pairs a clip gives
    samples = cfg.samples or cfg.steps * cfg.batch_size
    train_set = render_split({skin_id: skin}, math.ceil(samples / per_clip), backgrounds, synth, seed, TRAIN_SPLIT)
    eval_set = render_split({skin_id: skin}, math.ceil(cfg.eval_samples / per_clip), backgrounds, synth, seed + 1, EVAL_SPLIT)
    rendered = time.perf_counter()

    before = scores(base, eval_set)
    module = fine_tune(base, train_set, eval_set, cfg, seed)
    trained = time.perf_counter()
    after = scores(module.parser, eval_set)
    curve = [{"step": 0.0, **before}, *({"step": p["step"], **{k: p[f"{EVAL_SPLIT}_{k}"] for k in REPORTED if f"{EVAL_SPLIT}_{k}" in p}}
                                          for p in module.val_history)]  # fmt: skip

    save_parser(module.parser, out_dir)
    result = Adaptation(
        skin=skin_id, parser_dir=str(parser_dir), base_digest=base_digest, out_dir=str(out_dir), steps=cfg.steps,
        train_pairs=train_set.pairs, eval_pairs=eval_set.pairs, seed=seed, before=before, after=after, curve=curve,
        render_s=round(rendered - started, 1), train_s=round(trained - rendered, 1), wall_s=round(time.perf_counter() - started, 1),
    )  # fmt: skip
    write_adapted_card(result, cfg, skin, {TRAIN_SPLIT: train_set, EVAL_SPLIT: eval_set}, source)
    return result


def fine_tune(base: OverlayParser, train_set: RenderSet, eval_set: RenderSet, cfg: AdaptConfig, seed: int) -> ParserModule:
    """ParserModule from `base`'s weights, trained cfg.steps steps on `train_set`; `eval_set` gives the curve."""
    pl.seed_everything(seed, workers=True)
    steps_per_epoch = max(1, train_set.pairs // cfg.batch_size)
    settings = FineTuning(model=base.cfg, epochs=math.ceil(cfg.steps / steps_per_epoch), batch_size=cfg.batch_size, lr=cfg.lr,
                          weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps, curve_samples=eval_set.pairs)
    data = RenderDataModule(settings, train_set, {EVAL_SPLIT: eval_set}, seed)
    # load_parser hands the base over in eval mode, and Lightning keeps each module's mode: dropout and batch norm train here.
    module = ParserModule(settings, steps_per_epoch, [EVAL_SPLIT], start_from=base.train(), total_steps=cfg.steps, label=LABEL)
    curve = {"val_check_interval": cfg.curve_every, "check_val_every_n_epoch": None} if cfg.curve_every else {"limit_val_batches": 0}
    with tempfile.TemporaryDirectory(prefix="padflow-adapt-") as scratch:  # Lightning's root; nothing is kept there
        trainer = pl.Trainer(
            max_steps=cfg.steps, max_epochs=settings.epochs, accelerator="cpu", devices=1, precision="32-true", deterministic=True,
            callbacks=[TrainingProgress(LABEL)], logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=scratch, **curve,
        )
        trainer.fit(module, datamodule=data)
    module.parser.eval()
    return module


def _record(parser_dir: Path) -> Mapping[str, Any]:
    return json.loads((parser_dir / CONFIG_FILE).read_text())  # load_parser has read and checked it


def _scores_line(s: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in s.items() if k != "step")


def write_adapted_card(result: Adaptation, cfg: AdaptConfig, skin: AnySkin, sets: Mapping[str, RenderSet], source: RenderSource) -> Path:
    metrics = {**{f"before_{k}": round(v, 5) for k, v in result.before.items()},
               **{f"after_{k}": round(v, 5) for k, v in result.after.items()},
               "steps": result.steps, "train_pairs": result.train_pairs, "eval_pairs": result.eval_pairs, "wall_s": result.wall_s}  # fmt: skip
    data = {
        "base parser": f"{result.parser_dir} (weights sha256 {result.base_digest}…)",
        "skin": f"{skin.id} ({skin.kind}, {skin.family}{', held out of parser_train' if is_held_out(skin) else ''}; {skin.layout_path})",
        "render digests": ", ".join(f"{split} {render_digest(r)}" for split, r in sets.items()),
        "renders": (f"{TRAIN_SPLIT}: seed {result.seed}, {result.train_pairs} pairs; {EVAL_SPLIT} (scored, never trained on): "
                    f"seed {result.seed + 1}, {result.eval_pairs} pairs"),
        "backgrounds": f"frames of the simulator tasks {', '.join(source.background_tasks)}",
        "curve on the fresh renders": "; ".join(f"step {int(p['step'])}: {_scores_line(p)}" for p in result.curve),
        "ingested videos": "none: the parser learns from synthetic renders, so no video manifest licence applies",
    }
    return write_card(
        Path(result.out_dir), title=f"padflow overlay parser adapted to {result.skin}",
        summary=(f"The overlay parser of {result.parser_dir}, fine-tuned {result.steps} steps on synthetic renders of the skin "
                 f"{result.skin} alone by `padflow skins adapt`. Same network, inputs and outputs as the base parser."),
        data=data, params={"skins_adapt": asdict(cfg), "seed": result.seed, "synth": asdict(source.synth)}, metrics=metrics,
        intended_use=(f"Reading videos whose overlay is the skin {result.skin}: set params extract.parser_dir to this folder."),
        limitations=("Trained on one skin's renders: other skins may read worse than with the base parser; the scores are "
                     "on padflow's renders of the skin, not on videos drawn by another program."),
        usage=("```python\nfrom models.overlay_parser import OverlayParser\nparser = OverlayParser.from_pretrained(\"this/folder\")\n```"),
        tags=["overlay-parser", "gamepad", "adapted"],
    )
