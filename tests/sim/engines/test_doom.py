import hashlib
import subprocess
import sys

import numpy as np
import pytest

from padflow.actions import action_from_dict, noop
from padflow.players import make_player
from padflow.players.rollout import run_episode
from padflow.players.scripted.doom import in_sight
from padflow.sim.core import GamepadEnv
from padflow.sim.engines.doom import FPS, MAX_TURN_DEG_PER_TIC, Adapter, DoomState
from padflow.sim.suite.doom import TASKS
from padflow.sim.task import CATEGORIES, Task

TASKS_BY_ID = {t.id: t for t in TASKS}


def task_on(scenario: str, **options) -> Task:
    return Task(
        id=f"test_{scenario}", game="doom", engine="doom", scenario=scenario, category="combat", dim="3D",
        time_limit_s=10.0, description="test", success=lambda start, now: False, options=tuple(options.items()),
    )  # fmt: skip


@pytest.fixture(scope="module")
def basic():
    adapter = Adapter(task_on("basic", doom_objects=True))
    yield adapter
    adapter.close()


def hold(adapter: Adapter, action: np.ndarray, tics: int) -> DoomState:
    for _ in range(tics):
        _, state, _, _ = adapter.step(action)
    return state


def turned_left(before: DoomState, after: DoomState) -> float:
    return (after.angle - before.angle + 180.0) % 360.0 - 180.0


def test_frame_rate_is_one_tic_per_step():
    assert FPS == 35.0


def test_right_stick_right_turns_right_at_the_documented_rate(basic):
    _, start = basic.reset(0)
    after = hold(basic, action_from_dict({"RIGHT_X": 1.0}), 5)
    assert turned_left(start, after) == pytest.approx(-5 * MAX_TURN_DEG_PER_TIC, abs=0.5)
    after_left = hold(basic, action_from_dict({"RIGHT_X": -1.0}), 5)
    assert turned_left(after, after_left) == pytest.approx(5 * MAX_TURN_DEG_PER_TIC, abs=0.5)


def test_resting_thumb_inside_dead_zone_does_not_turn(basic):
    _, start = basic.reset(0)
    after = hold(basic, action_from_dict({"RIGHT_X": 0.05, "LEFT_Y": -0.05}), 10)
    assert turned_left(start, after) == 0.0 and (after.x, after.y) == (start.x, start.y)


def test_left_stick_up_walks_forward_and_right_strafes_right(basic):
    _, start = basic.reset(0)
    facing = np.array([np.cos(np.radians(start.angle)), np.sin(np.radians(start.angle))])
    right = np.array([facing[1], -facing[0]])
    after = hold(basic, action_from_dict({"LEFT_Y": 1.0}), 8)
    moved = np.array([after.x - start.x, after.y - start.y])
    assert moved @ facing > 30 and abs(moved @ right) < 1
    later = hold(basic, action_from_dict({"LEFT_X": 1.0}), 8)
    moved = np.array([later.x - after.x, later.y - after.y])
    assert moved @ right > 30


def test_right_trigger_fires_and_south_does_not(basic):
    _, start = basic.reset(0)
    assert hold(basic, action_from_dict({"SOUTH": 1}), 10).ammo == start.ammo
    assert hold(basic, action_from_dict({"RIGHT_TRIGGER": 1}), 10).ammo < start.ammo


def test_native_action_is_the_button_list_sent(basic):
    basic.reset(0)
    _, _, native, _ = basic.step(action_from_dict({"RIGHT_TRIGGER": 1, "RIGHT_X": 1.0, "LEFT_Y": -1.0}))
    assert native[0] == 1.0 and native[-3] == MAX_TURN_DEG_PER_TIC and native[-2] < 0


def test_objects_report_the_monster_and_not_the_player(basic):
    _, state = basic.reset(0)
    assert [o.name for o in state.objects] == ["Cacodemon"]


def frame_hashes(adapter: Adapter, seed: int, actions: list[np.ndarray]) -> list[str]:
    frame, _ = adapter.reset(seed)
    hashes = [hashlib.sha1(frame.tobytes()).hexdigest()]
    for action in actions:
        frame, _, _, _ = adapter.step(action)
        hashes.append(hashlib.sha1(frame.tobytes()).hexdigest())
    return hashes


def test_same_seed_same_actions_give_identical_frames():
    adapter = Adapter(task_on("defend_the_center"))
    rng = np.random.default_rng(0)
    actions = [action_from_dict({"RIGHT_X": float(rng.uniform(-1, 1)), "RIGHT_TRIGGER": int(rng.integers(2))})
               for _ in range(100)]  # fmt: skip
    try:
        first = frame_hashes(adapter, 3, actions)
        assert frame_hashes(adapter, 3, actions) == first
        assert frame_hashes(adapter, 4, actions) != first
    finally:
        adapter.close()


def test_env_wraps_the_adapter_with_frames_and_state():
    task = TASKS_BY_ID["doom_basic_first_shot"]
    env = GamepadEnv(task, Adapter(task))
    try:
        obs, info = env.reset(seed=0)
        assert obs.shape == env.observation_space.shape == (240, 320, 3) and obs.dtype == np.uint8
        obs, reward, terminated, truncated, info = env.step(noop())
        assert isinstance(info["state"], DoomState) and info["state"].tic == 1 and not terminated
        assert env.fps == FPS and env.max_frames == round(task.time_limit_s * FPS)
    finally:
        env.close()


def test_unknown_scenario_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown vizdoom scenario 'no_such_map'.*defend_the_center"):
        Adapter(task_on("no_such_map"))


def test_bad_skill_option_is_a_clear_error():
    with pytest.raises(ValueError, match="doom_skill"):
        Adapter(task_on("basic", doom_skill=9))


def test_bad_map_option_is_a_clear_error():
    with pytest.raises(ValueError, match="doom_map"):
        Adapter(task_on("freedoom1", doom_map="level one"))


def test_map_option_picks_the_map_of_a_full_game():
    starts = []
    for doom_map in ("E1M1", "E1M2"):
        adapter = Adapter(task_on("freedoom1", doom_map=doom_map))
        try:
            _, state = adapter.reset(0)
            starts.append((state.x, state.y))
        finally:
            adapter.close()
    assert starts[0] != starts[1]


def test_line_of_sight_is_cut_by_a_wall_between_and_not_by_one_beside():
    wall = np.array([[0.0, -10.0, 0.0, 10.0]])  # a short wall across x = 0
    assert not in_sight(wall, -5.0, 0.0, 5.0, 0.0)
    assert in_sight(wall, -5.0, 20.0, 5.0, 20.0)


def test_suite_shape():
    ids = [t.id for t in TASKS]
    assert len(ids) >= 10 and len(set(ids)) == len(ids)
    assert {t.game for t in TASKS} == {"doom", "freedoom"}
    assert all(t.id.startswith(f"{t.game}_") for t in TASKS)
    assert all(t.engine == "doom" and t.dim == "3D" and 10 <= t.time_limit_s <= 45 for t in TASKS)
    assert {t.category for t in TASKS} == set(CATEGORIES)


def test_suite_and_players_import_without_vizdoom():
    code = ("import sys, padflow.sim.suite.doom, padflow.players.scripted.doom, padflow.sim.engines.doom; "
            "sys.exit('vizdoom' in sys.modules)")  # fmt: skip
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("task_id", sorted(TASKS_BY_ID))
def test_predicate_fires_for_the_scripted_player_and_not_for_noop(task_id):
    task = TASKS_BY_ID[task_id]
    env = GamepadEnv(task, Adapter(task))
    try:
        scripted = make_player("scripted", task, env.fps)
        assert any(run_episode(env, scripted, seed).success for seed in range(3)), "scripted never succeeded"
        assert not run_episode(env, make_player("noop", task, env.fps), 0).success
    finally:
        env.close()
