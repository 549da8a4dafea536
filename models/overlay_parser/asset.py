"""The shipped overlay parser: a parser padflow trained itself, kept in the repository (params
`parser_train.asset`, default assets/parser) with the command that rebuilds it, the metrics its training
measured and a fingerprint of what it was trained from. parser_train uses it instead of training (~10 CPU
minutes of the default run) when the fingerprint it computes now equals the asset's.

    parser.safetensors, parser_config.json   the weights, as save_parser writes them
    README.md                                the model card of the run that made them
    asset.json                               fingerprint (and its parts), rebuild command, metrics, curves

The fingerprint is a sha256 over five parts, each kept in asset.json so a mismatch says which moved:

    config       parser_train's config as resolved for the profile, less the fields that change neither the
                 renders nor the training (threads, render_workers: results do not depend on them; out_dir,
                 asset: where things go), and the seed. Every other field sets the render sets, the network
                 or the optimizer. A `model.pretrained` folder's files are hashed too (its weights start training).
    skins        what the renders draw: every file of the skin folders (the built-in one and params
                 `overlay.skin_dirs`, by content) and the skin ids of every split, so a skin that moves
                 between training and held out, or a generated skin added by style_skins /
                 parametric_variants, counts.
    backgrounds  the pixels of the game frames the overlays sit on (players.footage.collect_backgrounds):
                 the simulator engines draw them, and they are training data.
    renderer     a behavioural digest of the render code: a clip of one skin per (split, kind, family)
                 rendered now with the config and seed (synth.render_split; render_digest's pixels, labels
                 and colour orders) plus each skin's SkinView (the rest crops and boxes the parser reads).
                 It covers synth, render, crops, skin, sprite, styles, skingen, footage and the video
                 codecs by what they draw, so a refactor that draws the same pixels does not retrain and
                 one that draws other pixels does; the default library's 8 clips take about a second (they
                 draw every degradation: blur, JPEG, H.264). A change to what none of them draws (a sprite
                 feature no chosen skin has) goes unseen; the validation scored on every run is the backstop.
    code         the content of the parser's network and training code (CODE_FILES): what turns the same
                 renders into other weights (architecture, loss, optimizer, schedule, data order, the
                 Lightning fit). These files are hashed as Python tokens less comments and blank lines, not
                 run: they only act through training, and a comment or a blank line changes no weight.

Not in it, on purpose: params.schema.json and dvc.yaml (they change with any stage's keys), the stage file
tasks/parser_train.py (wiring, metrics, the card's words; the training itself is `fit_parser` in
training.py, hashed), the validation (rendered and scored on every run, never copied), and library
versions (a torch or transformers update that moves the weights' numbers a little leaves the asset a
valid parser of this code, and the validation scores every run would show a real change).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.card import CARD_FILE
from models.overlay_parser.modeling import CONFIG_FILE, WEIGHTS_FILE
from padflow.io import atomic_path, file_sha256, replaced_dir, write_json, write_text
from padflow.overlay.library import AnySkin
from padflow.overlay.synth import RenderSet, SynthConfig, render_digest, render_split

ASSET_FILE = "asset.json"
ASSET_FORMAT = 1  # asset.json's layout; read_asset refuses others
PARTS = ("config", "skins", "backgrounds", "renderer", "code")
# The parser's network and training code, relative to the models/ folder: what turns renders into weights.
CODE_FILES = ("overlay_parser/configuration.py", "overlay_parser/modeling.py", "overlay_parser/processor.py",
              "overlay_parser/training.py", "training.py")
MODELS_DIR = Path(__file__).resolve().parents[1]
DIGEST_CLIPS_PER_SKIN = 1  # clips the renderer digest draws of each chosen skin (8 for the default library: 32 pairs)
DIGEST_SPLIT = "asset-digest"  # the digest's render seed stream: (seed, split, clip), apart from the real splits'
SKIN_FOLDER_SKIP = (".md",)  # notes beside skins (README.md) draw nothing
DIGEST_HEX = 16


@dataclass(frozen=True)
class Fingerprint:
    """What a parser was trained from, as one digest per part (PARTS)."""

    parts: Mapping[str, str]

    @property
    def digest(self) -> str:
        return _sha256_json(dict(self.parts))

    def differs(self, other: Fingerprint) -> list[str]:
        """The parts (in PARTS order) whose digests differ from `other`'s."""
        return [p for p in PARTS if self.parts.get(p) != other.parts.get(p)]


@dataclass(frozen=True)
class ParserAsset:
    """A shipped parser folder as read_asset finds it."""

    folder: Path
    fingerprint: Fingerprint
    command: str  # the shell command that rebuilds the folder
    metrics: Mapping[str, float]  # what parser_train measured when it trained these weights
    curves: Mapping[str, Sequence[float]] = field(default_factory=dict)  # that run's training loss and validation curves
    profile: str = ""  # the params profile it was trained with


def _sha256_json(record: Any) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:DIGEST_HEX]


def _folder_files(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` but notes (SKIN_FOLDER_SKIP)."""
    return {p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix not in SKIN_FOLDER_SKIP and "__pycache__" not in p.parts}


def config_part(record: Mapping[str, Any], seed: int) -> str:
    """The training config (runtime-only fields already left out by the caller) and the seed; a pretrained folder by content."""
    pretrained = (record.get("model") or {}).get("pretrained")
    files = _folder_files(Path(pretrained)) if pretrained and Path(pretrained).is_dir() else {}
    return _sha256_json({"config": record, "seed": seed, "pretrained_files": files})


def skins_part(folders: Mapping[str, Path], split_ids: Mapping[str, Sequence[str]]) -> str:
    """Every file of the skin folders (name → folder) by content, and the sorted skin ids of each split."""
    return _sha256_json({"folders": {name: _folder_files(Path(path)) for name, path in folders.items()},
                         "splits": {split: sorted(ids) for split, ids in split_ids.items()}})


def backgrounds_part(backgrounds: Sequence[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for run in backgrounds:
        digest.update(str(run.shape).encode())
        digest.update(np.ascontiguousarray(run).data)
    return digest.hexdigest()[:DIGEST_HEX]


def digest_skins(split_skins: Mapping[str, Mapping[str, AnySkin]]) -> dict[str, AnySkin]:
    """The skins the renderer digest draws: the first (by id) of each (kind, family) of each split."""
    chosen: dict[str, AnySkin] = {}
    for _split, skins in sorted(split_skins.items()):
        seen: set[tuple[str, str]] = set()
        for skin_id in sorted(skins):
            key = (skins[skin_id].kind, skins[skin_id].family)
            if key not in seen:
                seen.add(key)
                chosen[skin_id] = skins[skin_id]
    return chosen


def renderer_part(split_skins: Mapping[str, Mapping[str, AnySkin]], backgrounds: Sequence[np.ndarray], synth: SynthConfig, seed: int) -> str:
    """A behavioural digest of the renderer: a few clips rendered now, their pixels, labels and skin views."""
    skins = digest_skins(split_skins)
    renders = render_split(skins, DIGEST_CLIPS_PER_SKIN * len(skins), list(backgrounds), synth, seed, DIGEST_SPLIT, workers=1)
    return _sha256_json({"renders": render_digest(renders), "views": views_digest(renders)})


def views_digest(renders: RenderSet) -> str:
    """sha256 of every SkinView of a render set (rest crops and sticks, boxes, stick regions and travel, observed)."""
    digest = hashlib.sha256()
    for skin_id in sorted(renders.views):
        view = renders.views[skin_id]
        digest.update(skin_id.encode())
        for array in (view.rest_crop, view.rest_sticks, np.asarray(view.stick_regions, np.float64), view.button_boxes,
                      view.stick_travel, view.observed):
            digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:DIGEST_HEX]


def code_part(models_dir: Path = MODELS_DIR) -> str:
    return _sha256_json({name: _code_sha256(models_dir / name) for name in CODE_FILES})


def _code_sha256(path: Path) -> str:
    """sha256 of a Python file's tokens less comments and blank lines (docstrings and indentation count).

    Tokens as this interpreter's tokenize reads them: Python 3.12 splits f-strings into more tokens, so moving
    past pyproject's requires-python (<3.12) changes this part once."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for token in tokenize.tokenize(source.readline):
            if token.type not in (tokenize.COMMENT, tokenize.NL):
                digest.update(f"{token.type}:{token.string}\n".encode())
    return digest.hexdigest()


def fingerprint(record: Mapping[str, Any], seed: int, skin_folders: Mapping[str, Path],
                split_skins: Mapping[str, Mapping[str, AnySkin]], backgrounds: Sequence[np.ndarray], synth: SynthConfig) -> Fingerprint:
    """The fingerprint of a training run: `record` is the config less its runtime-only fields, `split_skins` the skins of each split."""
    return Fingerprint({
        "config": config_part(record, seed),
        "skins": skins_part(skin_folders, {split: list(skins) for split, skins in split_skins.items()}),
        "backgrounds": backgrounds_part(backgrounds),
        "renderer": renderer_part(split_skins, backgrounds, synth, seed),
        "code": code_part(),
    })


def read_asset(folder: Path) -> ParserAsset | None:
    """The asset in `folder`; None when there is no asset.json; ValueError naming the file when it is malformed or lacks weights."""
    path = Path(folder) / ASSET_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != ASSET_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {ASSET_FORMAT}")
        parts = {p: str(data["fingerprint_parts"][p]) for p in PARTS}
        asset = ParserAsset(Path(folder), Fingerprint(parts), str(data["command"]), dict(data["metrics"]),
                            {k: [float(v) for v in values] for k, values in (data.get("curves") or {}).items()},
                            str(data.get("profile", "")))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path}: not a parser asset record: {exc}") from None
    if data.get("fingerprint") != asset.fingerprint.digest:
        raise ValueError(f"{path}: fingerprint {data.get('fingerprint')!r} is not the digest of its parts ({asset.fingerprint.digest})")
    missing = [name for name in (WEIGHTS_FILE, CONFIG_FILE) if not (Path(folder) / name).is_file()]
    if missing:
        raise ValueError(f"{folder}: parser asset without {', '.join(missing)}; rebuild it: {asset.command}")
    return asset


def write_asset(folder: Path, parser_dir: Path, fp: Fingerprint, command: str, metrics: Mapping[str, float],
                curves: Mapping[str, Sequence[float]], profile: str) -> Path:
    """Replace `folder` with the parser of `parser_dir` (weights, config, card + a section on the asset) and asset.json."""
    with replaced_dir(folder) as tmp:
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            shutil.copyfile(Path(parser_dir) / name, tmp / name)
        card = (Path(parser_dir) / CARD_FILE).read_text().rstrip("\n")
        write_text(tmp / CARD_FILE, card + "\n\n## Shipped asset\n\n"
                   f"parser_train uses these weights instead of training while its fingerprint of the run (config, skins, "
                   f"backgrounds, renderer, code: models/overlay_parser/asset.py) is `{fp.digest}`. Rebuild: `{command}`\n")
        write_json(tmp / ASSET_FILE, {
            "format": ASSET_FORMAT, "fingerprint": fp.digest, "fingerprint_parts": dict(fp.parts), "command": command,
            "profile": profile, "metrics": dict(metrics), "curves": {k: list(v) for k, v in curves.items()},
        })
    return Path(folder)


def install_weights(asset: ParserAsset, out_dir: Path) -> None:
    """Copy the asset's weights and config into `out_dir` (each file atomically), where save_parser would write them."""
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        with atomic_path(Path(out_dir) / name) as tmp:
            shutil.copyfile(asset.folder / name, tmp)
