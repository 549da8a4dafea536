import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import SegformerModel

from models.overlay_parser import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    OverlayParser,
    ParserConfig,
    cells_to_axes,
    load_parser,
    parser_loss,
    save_parser,
    stick_targets,
)
from padflow.actions import ACTION_DIM, N_BUTTONS
from padflow.overlay.library import load_library
from padflow.overlay.synth import SynthConfig, render_split

# Small enough to train in seconds on two cores.
TINY = ParserConfig(
    crop_size=(64, 48), hidden_sizes=(8, 16, 32, 48), depths=(1, 1, 1, 1), num_attention_heads=(1, 1, 2, 2), head_size=32, dropout=0.0
)


def random_pairs(cfg: ParserConfig, n: int, seed: int = 0) -> np.ndarray:
    h, w2 = cfg.input_size
    return np.random.default_rng(seed).normal(size=(n, 3, h, w2)).astype(np.float32)


def test_predict_gives_unified_actions_and_confidence():
    torch.manual_seed(0)
    model = OverlayParser(TINY)
    actions, confidence = model.predict(random_pairs(TINY, 5))
    assert actions.shape == (5, ACTION_DIM) and actions.dtype == np.float32
    assert set(np.unique(actions[:, :N_BUTTONS])) <= {0.0, 1.0}
    assert np.abs(actions[:, N_BUTTONS:]).max() <= 1.0
    assert confidence.shape == (5,) and confidence.dtype == np.float32
    assert ((confidence >= 0) & (confidence <= 1)).all()
    with pytest.raises(ValueError, match=r"expected \(B, 3, 48, 128\)"):
        model.predict(np.zeros((2, 3, 48, 64), np.float32))


def test_stick_grid_encoding_round_trips_any_position():
    values = torch.tensor([[-1.0, 1.0], [0.0, 0.0], [0.33, -0.71], [1.0, -1.0], [0.95, 0.05]])
    actions = torch.zeros(len(values), ACTION_DIM)
    actions[:, 17:19] = values
    actions[:, 19:21] = -values
    cell, offset = stick_targets(actions, 11)
    assert cell[0, 0] == 0 and cell[1, 0] == 60 and cell[3, 0] == 120  # top-left, centre, bottom-right
    assert offset.abs().max() <= 0.5 + 1e-6
    axes = cells_to_axes(cell, offset, 11)
    assert torch.allclose(axes[:, 0], values, atol=1e-5) and torch.allclose(axes[:, 1], -values, atol=1e-5)


@pytest.mark.slow
def test_parser_overfits_a_tiny_render_set():
    library = load_library()
    skins = {i: library.skins[i] for i in library.training_ids()[:2]}
    backgrounds = [np.random.default_rng(0).integers(0, 255, (4, 120, 160, 3), dtype=np.uint8)]
    renders = render_split(skins, 8, backgrounds, SynthConfig(crop_size=TINY.crop_size, frames_per_clip=3), seed=0, split="train")
    pairs, labels = renders.pair_batch(np.arange(renders.pairs))
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = OverlayParser(TINY)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    x, y = torch.from_numpy(pairs), torch.from_numpy(labels)
    for _ in range(150):
        loss, _ = parser_loss(model(x), y, TINY.grid)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    actions, confidence = model.predict(pairs)
    assert (actions[:, :N_BUTTONS] == labels[:, :N_BUTTONS]).mean() == 1.0
    assert np.abs(actions[:, N_BUTTONS:] - labels[:, N_BUTTONS:]).mean() < 0.05
    assert confidence.mean() > 0.5


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path):
    torch.manual_seed(1)
    model = OverlayParser(TINY)
    with torch.no_grad():  # non-default batch-norm statistics must survive too
        model.fuse[1].running_mean.uniform_(-1, 1)
    save_parser(model, tmp_path / "parser")
    assert {p.name for p in (tmp_path / "parser").iterdir()} == {WEIGHTS_FILE, CONFIG_FILE}
    loaded = load_parser(tmp_path / "parser")
    assert loaded.cfg == TINY
    pairs = random_pairs(TINY, 4, seed=3)
    a1, c1 = model.predict(pairs)
    a2, c2 = loaded.predict(pairs)
    assert np.array_equal(a1, a2) and np.array_equal(c1, c2)


def test_missing_corrupt_and_mismatched_weights_give_clear_errors(tmp_path: Path):
    folder = save_parser(OverlayParser(TINY), tmp_path / "parser")
    with pytest.raises(ValueError, match="missing"):
        load_parser(tmp_path / "nowhere")
    (folder / WEIGHTS_FILE).write_bytes(b"\x00not safetensors at all")
    with pytest.raises(ValueError, match=f"{WEIGHTS_FILE}: not a readable safetensors file"):
        load_parser(folder)
    # Weights of a bigger head under a config that says otherwise.
    save_parser(OverlayParser(replace(TINY, head_size=16)), folder)
    record = json.loads((folder / CONFIG_FILE).read_text())
    record["config"]["head_size"] = 32
    (folder / CONFIG_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"wrong shapes: project.0.weight \(16, 8, 1, 1\) != \(32, 8, 1, 1\)"):
        load_parser(folder)
    (folder / CONFIG_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=f"{CONFIG_FILE}: not a readable parser config"):
        load_parser(folder)


def test_encoder_starts_from_pretrained_segformer_weights(tmp_path: Path):
    torch.manual_seed(2)
    encoder = SegformerModel(TINY.segformer_config())
    with torch.no_grad():
        encoder.stages[0].patch_embeddings.proj.weight.fill_(0.125)
    encoder.save_pretrained(tmp_path / "segformer")
    model = OverlayParser(replace(TINY, pretrained=str(tmp_path / "segformer")))
    assert torch.all(model.encoder.stages[0].patch_embeddings.proj.weight == 0.125)
    for a, b in zip(encoder.state_dict().values(), model.encoder.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="hidden_sizes"):
        OverlayParser(replace(TINY, hidden_sizes=(8, 16, 32, 64), num_attention_heads=(1, 1, 2, 2), pretrained=str(tmp_path / "segformer")))
    with pytest.raises(ValueError, match="no SegFormer config.json"):
        OverlayParser(replace(TINY, pretrained=str(tmp_path)))


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="crop_size"):
        ParserConfig(crop_size=(90, 64))
    with pytest.raises(ValueError, match="depths"):
        ParserConfig(depths=(1, 1))
    with pytest.raises(ValueError, match="grid"):
        ParserConfig(grid=10)
