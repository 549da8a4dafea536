import hashlib
import subprocess
import sys

import numpy as np
import pytest

from padflow.actions import action_from_dict, noop
from padflow.players import make_player
from padflow.players.rollout import run_episode
from padflow.sim.core import GamepadEnv
from padflow.sim.engines.atari import FPS, FRAME_SKIP, Adapter
from padflow.sim.registry import make_env
from padflow.sim.suite import atari as suite
from padflow.sim.task import CATEGORIES

TASKS = {task.id: task for task in suite.TASKS}


def env_for(task_id: str) -> GamepadEnv:
    return make_env(TASKS[task_id])


def hold(env: GamepadEnv, action: np.ndarray, steps: int):
    state = env.state
    for _ in range(steps):
        _, _, _, _, info = env.step(action)
        state = info["state"]
    return state


def test_frame_rate_is_60hz_over_frame_skip_2():
    assert (FRAME_SKIP, FPS) == (2, 30.0)


def test_engine_module_imports_without_loading_the_emulator():
    code = "import sys, padflow.sim.engines.atari, padflow.sim.suite.atari; print('ale_py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_left_stick_moves_the_breakout_paddle_and_deflection_sets_its_speed():
    env = env_for("breakout_break_5_bricks")
    env.reset(seed=0)
    hold(env, action_from_dict({"LEFT_X": -1.0}), 40)  # park at the left wall
    x0 = int(env.state.ram[suite.BREAKOUT_PADDLE_X])
    slow = int(hold(env, action_from_dict({"LEFT_X": 0.5}), 5).ram[suite.BREAKOUT_PADDLE_X]) - x0
    fast = int(hold(env, action_from_dict({"LEFT_X": 1.0}), 5).ram[suite.BREAKOUT_PADDLE_X]) - x0 - slow
    assert 0 < slow < fast, "stick right moves right, further when pushed further"
    back = hold(env, action_from_dict({"LEFT_X": -1.0}), 5).ram[suite.BREAKOUT_PADDLE_X]
    assert int(back) < x0 + slow + fast
    env.close()


def test_left_stick_up_walks_the_freeway_chicken_up():
    env = env_for("freeway_cross_once")
    env.reset(seed=0)
    y0 = int(env.state.ram[suite.FREEWAY_CHICKEN_Y])
    assert int(hold(env, action_from_dict({"LEFT_Y": 1.0}), 10).ram[suite.FREEWAY_CHICKEN_Y]) > y0
    env.close()


def test_dpad_overrides_the_stick_and_small_deflection_is_ignored():
    env = env_for("boxing_score_10")
    env.reset(seed=0)
    x0 = int(env.state.ram[suite.BOXING_PLAYER_X])
    x1 = int(hold(env, action_from_dict({"LEFT_X": -1.0, "DPAD_RIGHT": 1}), 10).ram[suite.BOXING_PLAYER_X])
    assert x1 > x0, "d-pad right wins over a stick pushed left"
    _, _, _, _, info = env.step(action_from_dict({"LEFT_X": 0.1}))
    assert info["native_action"][0] == "NOOP", "a resting thumb's drift is no input"
    env.close()


@pytest.mark.parametrize(("button", "serves"), [("SOUTH", True), ("RIGHT_TRIGGER", True), ("WEST", False)])
def test_fire_buttons_serve_the_breakout_ball(button, serves):
    env = env_for("breakout_break_5_bricks")
    env.reset(seed=0)
    _, _, _, _, info = env.step(action_from_dict({button: 1}))
    assert ("FIRE" in info["native_action"][0]) == serves
    state = hold(env, noop(), 20)
    assert (state.ram[suite.BREAKOUT_BALL_Y] != 0) == serves
    env.close()


def frame_hashes(seed: int, steps: int = 100) -> list[str]:
    env = env_for("pong_score_point")
    rng = np.random.default_rng(123)
    actions = [action_from_dict({"LEFT_X": rng.uniform(-1, 1), "SOUTH": int(rng.integers(0, 2))}) for _ in range(steps)]
    frame, _ = env.reset(seed=seed)
    hashes = [hashlib.sha1(frame.tobytes()).hexdigest()]
    for action in actions:
        frame, *_ = env.step(action)
        hashes.append(hashlib.sha1(frame.tobytes()).hexdigest())
    env.close()
    return hashes


def test_same_seed_and_actions_give_identical_frames():
    first = frame_hashes(seed=7)
    assert first == frame_hashes(seed=7)
    assert first != frame_hashes(seed=8), "seeds give different episodes"


def test_state_snapshot_is_frozen_and_counts_frames():
    env = env_for("pong_score_point")
    _, info = env.reset(seed=0)
    start = info["state"]
    _, _, _, _, info = env.step(noop())
    now = info["state"]
    assert (start.frame, now.frame) == (0, 1)
    assert now.ram.shape == (128,) and now.ram.dtype == np.uint8
    with pytest.raises(AttributeError):
        now.score = 1.0
    env.close()


def test_unknown_game_names_the_game():
    task = suite.Task("nope_x", "nope", "atari", "not_a_game", "combat", "2D", 10.0, "d", lambda a, b: False)
    with pytest.raises(ValueError, match="not_a_game"):
        Adapter(task)


def test_unavailable_game_mode_is_refused():
    task = suite.Task("pong_x", "pong", "atari", "pong", "combat", "2D", 10.0, "d", lambda a, b: False, (("mode", 99),))
    with pytest.raises(ValueError, match="mode 99"):
        Adapter(task)


def test_suite_spans_games_and_categories():
    games = {task.game for task in suite.TASKS}
    assert len(suite.TASKS) >= 12 and len(games) >= 7
    assert {task.category for task in suite.TASKS} == set(CATEGORIES)
    for task in suite.TASKS:
        assert task.engine == "atari" and task.id.startswith(task.game)
        assert 10 <= task.time_limit_s <= 60


def test_bcd_reads_decimal_digits():
    assert suite.bcd(0x42) == 42 and suite.bcd(0x09) == 9


@pytest.mark.slow
@pytest.mark.parametrize("task_id", list(TASKS))
def test_predicate_fires_for_scripted_play_and_not_for_an_idle_pad(task_id):
    env = env_for(task_id)
    try:
        scripted = make_player("scripted", env.task, env.fps)
        assert any(run_episode(env, scripted, seed).success for seed in range(5))
        assert not run_episode(env, make_player("noop", env.task, env.fps), 0).success
    finally:
        env.close()
