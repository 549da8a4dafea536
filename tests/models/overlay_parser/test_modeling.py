import hashlib
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
    as_tensors,
    box_masks,
    load_parser,
    parser_loss,
    save_parser,
    with_rest_comparison,
)
from models.overlay_parser.modeling import cap_match
from padflow.actions import ACTION_DIM, N_BUTTONS
from padflow.overlay.crops import ParserBatch, parser_inputs, skin_view
from padflow.overlay.library import load_library
from padflow.overlay.synth import SynthConfig, render_split

# Small enough to train in seconds on two cores.
TINY = ParserConfig(
    crop_size=(64, 48), hidden_sizes=(8, 16, 32, 48), depths=(1, 1, 1, 1), num_attention_heads=(1, 1, 2, 2), head_size=32, dropout=0.0
)


def random_batch(cfg: ParserConfig, n: int, seed: int = 0) -> ParserBatch:
    """Noise crops read through a real skin's view."""
    rng = np.random.default_rng(seed)
    (w, h), s = cfg.crop_size, cfg.stick_size
    view = skin_view(load_library().skins["xbox-01"], cfg.crop_size, s)
    frames = [(rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8), rng.integers(0, 256, (n, 2, s, s, 3), dtype=np.uint8)) for _ in range(2)]
    return parser_inputs(frames[0], frames[1], view)


def test_predict_gives_unified_actions_and_confidence():
    torch.manual_seed(0)
    model = OverlayParser(TINY)
    actions, confidence = model.predict(random_batch(TINY, 5))
    assert actions.shape == (5, ACTION_DIM) and actions.dtype == np.float32
    assert set(np.unique(actions[:, :N_BUTTONS])) <= {0.0, 1.0}
    assert np.abs(actions[:, N_BUTTONS:]).max() <= 1.0
    assert confidence.shape == (5,) and confidence.dtype == np.float32
    assert ((confidence >= 0) & (confidence <= 1)).all()
    wrong = random_batch(TINY, 2)._replace(frames=np.zeros((2, 6, 48, 64), np.float32))
    with pytest.raises(ValueError, match=r"expected \(B, 6, 48, 128\)"):
        model.predict(wrong)


def test_read_gives_the_button_logits_behind_the_actions():
    torch.manual_seed(0)
    model = OverlayParser(TINY)
    batch = random_batch(TINY, 5)
    reading = model.read(batch)
    assert reading.button_logits.shape == (5, N_BUTTONS) and reading.button_logits.dtype == np.float32
    np.testing.assert_array_equal(reading.actions[:, :N_BUTTONS], (reading.button_logits > 0).astype(np.float32))
    actions, confidence = model.predict(batch)
    np.testing.assert_array_equal(actions, reading.actions)
    np.testing.assert_array_equal(confidence, reading.confidence)


def test_box_masks_cover_each_box_and_sum_to_one():
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.9, 0.9, 0.92, 0.93]]])  # a quarter; a box thinner than a cell
    masks = box_masks(boxes, (4, 4))
    assert torch.allclose(masks.sum(dim=(-2, -1)), torch.ones(1, 2))
    assert torch.allclose(masks[0, 0, :2, :2], torch.full((2, 2), 0.25)) and masks[0, 0, 2:].sum() == 0
    assert masks[0, 1, 3, 3] == 1.0


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
    x, y = as_tensors(pairs), torch.from_numpy(labels)
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
        model.fuse[0].running_mean.uniform_(-1, 1)
    save_parser(model, tmp_path / "parser")
    assert {p.name for p in (tmp_path / "parser").iterdir()} == {WEIGHTS_FILE, CONFIG_FILE}
    loaded = load_parser(tmp_path / "parser")
    assert loaded.cfg == TINY
    pairs = random_batch(TINY, 4, seed=3)
    a1, c1 = model.predict(pairs)
    a2, c2 = loaded.predict(pairs)
    assert np.array_equal(a1, a2) and np.array_equal(c1, c2)


def test_missing_corrupt_and_mismatched_weights_give_clear_errors(tmp_path: Path):
    folder = save_parser(OverlayParser(TINY), tmp_path / "parser")
    with pytest.raises(ValueError, match="missing"):
        load_parser(tmp_path / "nowhere")
    (folder / WEIGHTS_FILE).write_bytes(b"\x00not safetensors at all")
    with pytest.raises(ValueError, match=f"{WEIGHTS_FILE}: contents do not match {CONFIG_FILE}"):
        load_parser(folder)
    record = json.loads((folder / CONFIG_FILE).read_text())
    record["weights_sha256"] = hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()  # as if saved so
    (folder / CONFIG_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"{WEIGHTS_FILE}: not a readable safetensors file"):
        load_parser(folder)
    # Weights of a bigger head under a config that says otherwise.
    save_parser(OverlayParser(replace(TINY, head_size=16)), folder)
    record = json.loads((folder / CONFIG_FILE).read_text())
    record["config"]["head_size"] = 32
    (folder / CONFIG_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"wrong shapes: button_embedding \(17, 48\) != \(17, 96\)"):
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
    # An RGB checkpoint (what public SegFormer weights are) is widened to six channels: the
    # rest-image channels start at zero, so the encoder first sees exactly what it was trained on.
    rgb = SegformerModel(TINY.segformer_config(num_channels=3))
    rgb.save_pretrained(tmp_path / "rgb")
    widened = OverlayParser(replace(TINY, pretrained=str(tmp_path / "rgb"))).encoder
    kernel = widened.stages[0].patch_embeddings.proj.weight
    assert kernel.shape[1] == 6 and torch.equal(kernel[:, :3], rgb.stages[0].patch_embeddings.proj.weight) and not kernel[:, 3:].any()
    x = torch.randn(1, 3, 48, 128)
    with torch.no_grad():
        want = rgb(x).last_hidden_state
        got = widened(torch.cat([x, torch.randn(1, 3, 48, 128)], dim=1)).last_hidden_state
    assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="hidden_sizes"):
        OverlayParser(replace(TINY, hidden_sizes=(8, 16, 32, 64), num_attention_heads=(1, 1, 2, 2), pretrained=str(tmp_path / "segformer")))
    with pytest.raises(ValueError, match="no SegFormer config.json"):
        OverlayParser(replace(TINY, pretrained=str(tmp_path)))


def test_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="crop_size"):
        ParserConfig(crop_size=(90, 64))
    with pytest.raises(ValueError, match="stick_size"):
        ParserConfig(stick_size=16)
    with pytest.raises(ValueError, match="depths"):
        ParserConfig(depths=(1, 1))
    with pytest.raises(ValueError, match="grid"):
        ParserConfig(grid=10)


def test_rest_comparison_is_an_option_and_a_save_without_it_loads_and_reads_as_before(tmp_path: Path):
    torch.manual_seed(4)
    model = OverlayParser(TINY)
    folder = save_parser(model, tmp_path / "stacked")
    record = json.loads((folder / CONFIG_FILE).read_text())
    del record["config"]["compare_rest"]  # a checkpoint saved before the option existed
    (folder / CONFIG_FILE).write_text(json.dumps(record))
    loaded = load_parser(folder)
    pairs = random_batch(TINY, 4, seed=5)
    assert not loaded.cfg.compare_rest and np.array_equal(loaded.read(pairs).button_logits, model.read(pairs).button_logits)

    wide = with_rest_comparison(loaded)  # starts out reading exactly as the stacked parser
    assert wide.cfg.compare_rest and wide.encoder.config.num_channels == 9
    assert np.allclose(wide.read(pairs).button_logits, model.read(pairs).button_logits, atol=1e-5)
    again = load_parser(save_parser(wide, tmp_path / "compare"))
    assert np.array_equal(again.read(pairs).button_logits, wide.read(pairs).button_logits)


def test_cap_match_peaks_at_the_grid_position_the_rest_cap_moved_to():
    s, g, travel = 32, 11, 0.45
    yy, xx = np.mgrid[0:s, 0:s]
    centre = s / 2 - 0.5
    rest = np.full((s, s, 3), 150, np.uint8)
    rest[(xx - centre) ** 2 + (yy - centre) ** 2 <= 5**2] = 30  # a dark cap at the well's centre
    shift = travel * s / 2  # full deflection right and half up, in px
    current = np.full((s, s, 3), 150, np.uint8)
    current[(xx - centre - shift) ** 2 + (yy - centre + shift / 2) ** 2 <= 5**2] = 30
    sticks = torch.from_numpy(np.concatenate([np.concatenate([rest, current], 1), np.concatenate([rest, rest], 1)], -1)).permute(2, 0, 1)[None]
    lattice = travel * torch.linspace(-1, 1, g)
    grid_xy = torch.stack([lattice[None, :].expand(g, g), lattice[:, None].expand(g, g)], -1)[None]
    features = cap_match(sticks, grid_xy, torch.tensor([travel]), OverlayParser(replace(TINY, compare_rest=True)).template_offsets)
    row, col = divmod(int(features[0, 0].argmax()), g)
    assert col == g - 1 and row in (2, 3), (row, col)  # x = 1, y = 0.5: row (1 - 0.5) / 2 * (g - 1) = 2.5
