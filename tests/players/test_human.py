import numpy as np
import pytest

from padflow.actions import AXIS_INDEX, BUTTON_INDEX
from padflow.players.human import SKILLS, HumanizedGamepad, Intent, Skill, get_skill


def run(pad: HumanizedGamepad, intents: list[Intent], seed: int = 0) -> np.ndarray:
    pad.reset(seed)
    return np.stack([pad.press(i) for i in intents])


def test_reaction_delay_then_smooth_stick_motion():
    skill = get_skill("expert")
    pad = HumanizedGamepad(skill, fps=30)
    out = run(pad, [Intent(left=(1.0, 0.0))] * 40)
    x = out[:, AXIS_INDEX["LEFT_X"]]
    lo, hi = skill.reaction_frames
    assert (x[:lo] == 0).all(), "the thumb cannot move before the reaction delay"
    moving = x[hi + 1 : hi + 6]
    assert 0 < moving[0] < 0.9 and np.all(np.diff(moving) > -0.1), "stick glides, not jumps"
    assert x[-10:].mean() > 0.9, "stick reaches the target"


def test_tap_lasts_at_least_min_press_and_buttons_are_binary():
    skill = Skill("t", (0, 0), 1.0, 0.0, 0.0, (0, 0), 0.0, 4, 0.0)
    pad = HumanizedGamepad(skill, fps=30)
    intents = [Intent.of("A")] + [Intent()] * 10  # one-frame intent, alias A → SOUTH
    south = run(pad, intents)[:, BUTTON_INDEX["SOUTH"]]
    assert set(np.unique(south)) <= {0.0, 1.0}
    assert south[:4].tolist() == [1, 1, 1, 1] and south[4:].sum() == 0


def test_held_button_must_lift_before_pressing_again():
    skill = Skill("t", (0, 0), 1.0, 0.0, 0.0, (0, 0), 0.0, 1, 0.0)
    pad = HumanizedGamepad(skill, fps=30)
    south = run(pad, [Intent.of("SOUTH"), Intent(), Intent.of("SOUTH"), Intent.of("SOUTH")])
    assert south[:, BUTTON_INDEX["SOUTH"]].tolist() == [1, 0, 0, 1]


def test_same_seed_same_presses_and_misses_happen_for_novices():
    novice = get_skill("novice")
    intents = [Intent.of("SOUTH") if (i // 5) % 2 == 0 else Intent() for i in range(3000)]
    a = run(HumanizedGamepad(novice, 30), intents, seed=3)
    b = run(HumanizedGamepad(novice, 30), intents, seed=3)
    assert np.array_equal(a, b)
    expert = run(HumanizedGamepad(get_skill("expert"), 30), intents, seed=3)
    assert a[:, 0].sum() < expert[:, 0].sum(), "a novice misses and idles more than an expert"


def test_released_stick_returns_exactly_to_centre():
    pad = HumanizedGamepad(get_skill("average"), fps=30)
    out = run(pad, [Intent(right=(0.0, -1.0))] * 30 + [Intent()] * 60)
    assert out[-1, AXIS_INDEX["RIGHT_Y"]] == 0.0
    assert out[20:30, AXIS_INDEX["RIGHT_Y"]].mean() < -0.8


def test_skill_validation_and_unknown_preset():
    with pytest.raises(ValueError, match="stick_response"):
        Skill("bad", (1, 2), 0.0, 0.0, 0.0, (1, 2), 0.0, 1, 0.0)
    with pytest.raises(ValueError, match="unknown skill 'godlike'; valid: expert, average, novice"):
        get_skill("godlike")
    assert set(SKILLS) == {"expert", "average", "novice"}
