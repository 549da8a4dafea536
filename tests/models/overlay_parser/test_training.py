"""The parser's Lightning training pieces: scores, the learning-rate schedule, the pairs' order per epoch."""

import math

import numpy as np
import pytest

from models.overlay_parser.training import PairBatches, score, warmup_cosine_factor


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
