"""The parser's pre/post-processing: stick grid targets and the local soft-argmax that reads them back."""

import torch

from models.overlay_parser.processor import decode_outputs, decode_sticks, stick_targets
from padflow.actions import ACTION_DIM, ACTION_INDEX
from padflow.tables import observed_mask


def test_stick_grid_encoding_round_trips_any_position():
    values = torch.tensor([[-1.0, 1.0], [0.0, 0.0], [0.33, -0.71], [1.0, -1.0], [0.95, 0.05]])
    actions = torch.zeros(len(values), ACTION_DIM)
    actions[:, 17:19] = values
    actions[:, 19:21] = -values
    target = stick_targets(actions, 11)  # (5, 2, 121), each a distribution
    assert torch.allclose(target.sum(-1), torch.ones(5, 2))
    assert target[0, 0, 0] == 1 and target[1, 0, 60] == 1 and target[3, 0, 120] == 1  # top-left, centre, bottom-right
    # A network that outputs the soft target (as log-probabilities) reads back the exact position.
    axes, mass = decode_sticks(torch.log(target.clamp(min=1e-12)), 11)
    assert torch.allclose(axes[:, 0], values, atol=1e-5) and torch.allclose(axes[:, 1], -values, atol=1e-5)
    assert torch.allclose(mass, torch.ones(5, 2), atol=1e-5)


def test_soft_argmax_ignores_a_distant_second_mode():
    logits = torch.full((1, 2, 9), -20.0)
    logits[0, :, 0] = 0.0  # top-left
    logits[0, :, 8] = -0.1  # bottom-right, nearly as likely
    axes, mass = decode_sticks(logits, 3)
    assert torch.allclose(axes[0, 0], torch.tensor([-1.0, 1.0]), atol=1e-4)  # not dragged to the centre
    assert 0.45 < mass[0, 0] < 0.55


def test_confidence_over_a_skins_controls_ignores_the_doubt_of_undrawn_ones():
    buttons = torch.full((2, 17), 8.0)  # every button read with certainty...
    buttons[:, ACTION_INDEX["BACK"]] = 0.0  # ...but BACK, at p = 0.5
    target = stick_targets(torch.zeros(2, ACTION_DIM), 5)
    reading = decode_outputs({"buttons": buttons, "stick_logits": torch.log(target.clamp(min=1e-12))}, 5)
    assert (reading.confidence < 0.51).all()
    assert (reading.confidence_over(observed_mask(["BACK"])) > 0.99).all()
    assert (reading.confidence_over(observed_mask()) == reading.confidence).all()
