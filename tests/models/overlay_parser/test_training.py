"""The parser's Lightning training pieces: scores, the learning-rate schedule, the pairs' order per epoch."""

import math

import numpy as np
import pytest
import torch

from models.overlay_parser import OverlayParser, ParserConfig, parser_loss
from models.overlay_parser.training import PairBatches, RenderPairs, score, warmup_cosine_factor
from padflow.actions import ACTION_INDEX, ACTION_NAMES
from padflow.overlay.library import load_library
from padflow.overlay.sprite import load_sprite_skin
from padflow.overlay.synth import SynthConfig, render_split

TINY = ParserConfig(crop_size=(64, 48), hidden_sizes=(8, 16, 32, 48), depths=(1, 1, 1, 1), num_attention_heads=(1, 1, 2, 2), head_size=32)


def test_score_reports_frame_accuracy_and_r2():
    truth = np.zeros((4, 21), np.float32)
    truth[:, 17] = [-1.0, -0.5, 0.5, 1.0]
    pred = truth.copy()
    pred[0, 3] = 1.0  # one wrong button in one frame
    s = score(pred, truth)
    assert s["button_frame_accuracy"] == 0.75 and s["button_accuracy"] == pytest.approx(1 - 1 / 68)
    assert s["stick_r2_left_x"] == 1.0


def test_learning_rate_warms_up_then_decays_by_a_cosine_to_zero():
    factors = [warmup_cosine_factor(s, 10, 110) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == 1.0 and factors[60] == pytest.approx(0.5) and factors[109] == pytest.approx(0.5 * (1 + math.cos(math.pi * 99 / 100)))
    assert warmup_cosine_factor(0, 0, 10) == 1.0  # no warmup


def test_pair_order_is_one_seeded_stream_and_a_resumed_epoch_sees_the_same_batches():
    sampler = PairBatches(pairs=10, batch_size=4, seed=3)
    assert len(sampler) == 2  # whole batches only
    stream = np.random.default_rng([3, 0x5A])
    for epoch in range(3):
        order = stream.permutation(10)
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert [b.tolist() for b in batches] == [order[:4].tolist(), order[4:8].tolist()]
    resumed = PairBatches(pairs=10, batch_size=4, seed=3)
    resumed.set_epoch(2)
    assert [b.tolist() for b in resumed] == [b.tolist() for b in batches]
    assert [sorted(b.tolist()) for b in PairBatches(pairs=3, batch_size=4, seed=0)] == [[0, 1, 2]]  # fewer pairs than a batch: one short batch
    assert [b.tolist() for b in PairBatches(pairs=10, batch_size=4, limit=6)] == [[0, 1, 2, 3], [4, 5]]  # validation: in order


def test_score_counts_only_the_controls_each_skin_draws():
    truth = np.zeros((4, 21), np.float32)
    truth[:, 17] = [-1.0, -0.5, 0.5, 1.0]
    pred = truth.copy()
    pred[:, ACTION_INDEX["BACK"]] = 1.0  # a reading of a control the skin does not draw
    pred[:, 19] = 0.3
    observed = np.ones((4, 21), bool)
    observed[:, [ACTION_INDEX["BACK"], 19, 20]] = False
    s = score(pred, truth, observed)
    assert s["button_frame_accuracy"] == 1.0 and s["button_accuracy"] == 1.0
    assert np.isnan(s["stick_r2_right_x"]) and s["stick_r2"] == 1.0 and s["stick_mae"] == 0.0


def test_training_pairs_carry_their_skins_mask_and_unobserved_controls_get_no_gradient(tmp_path, make_sprite_skin):
    sprite = load_sprite_skin(make_sprite_skin(tmp_path, sticks=False))
    skins = {"xbox-01": load_library().skins["xbox-01"], sprite.id: sprite}
    backgrounds = [np.random.default_rng(0).integers(0, 255, (4, 120, 160, 3), dtype=np.uint8)]
    renders = render_split(skins, 2, backgrounds, SynthConfig(crop_size=TINY.crop_size, frames_per_clip=2), seed=0, split="train")
    pairs, labels, observed = RenderPairs(renders)[np.arange(renders.pairs)]
    by_skin = dict(zip(renders.skin_ids, observed.numpy()))
    assert by_skin["xbox-01"].all()
    unseen = [i for i, name in enumerate(ACTION_NAMES) if name not in sprite.observed]
    assert unseen and not by_skin[sprite.id][unseen].any() and by_skin[sprite.id].sum() == 21 - len(unseen)
    torch.manual_seed(0)
    model = OverlayParser(TINY)
    sprite_only = torch.tensor([s == sprite.id for s in renders.skin_ids])
    loss, _ = parser_loss(model(pairs), labels, TINY.grid, observed | ~sprite_only[:, None])
    loss.backward()
    buttons = [i for i in unseen if i < 17]
    assert (model.button_embedding.grad[buttons] != 0).any(dim=1).all(), "the parametric skin's pairs still train them"
    model.zero_grad()
    only_sprite = parser_loss(model(pairs), labels, TINY.grid, observed & sprite_only[:, None])[0]
    only_sprite.backward()
    assert (model.button_embedding.grad[buttons] == 0).all()
