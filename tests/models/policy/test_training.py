"""The policy's LightningModule pieces: the warmup-stable-decay schedule and button F1."""

from __future__ import annotations

import pytest

from models.policy.training import button_f1, wsd_lr_factor


def test_wsd_schedule_warms_up_holds_and_decays():
    factors = [wsd_lr_factor(s, 100, 0.1, 0.2, 0.0) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)  # linear warmup over 10 steps
    assert factors[10:80] == [1.0] * 70  # stable phase
    assert factors[80] == pytest.approx(0.95) and factors[99] == pytest.approx(0.0)  # linear decay over the last 20
    assert wsd_lr_factor(99, 100, 0.0, 0.2, 0.1) == pytest.approx(0.1)  # floor at min_lr_ratio


def test_button_f1():
    assert button_f1(tp=3, fp=1, fn=2) == pytest.approx(6 / 9)
    assert button_f1(tp=0, fp=4, fn=0) == 0.0
