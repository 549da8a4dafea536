"""The evaluate stage on real engines with a policy the test saves: rates, failures, checkpoints, videos."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from models.policy import CONFIG_FILE, FlowMatchingPolicy, policy_profile, save_policy
from padflow.actions import ACTION_DIM, ACTION_INDEX
from padflow.config import load_params
from padflow.sim.registry import all_tasks, get_task
from padflow.sim.task import Task
from padflow.tables import write_action_table, write_chunk_index
from padflow.video import iter_frames
from tasks.evaluate import (
    EvaluateConfig, PolicySampler, build_jobs, evaluate, load_checked_policy, load_priors)

SHORT_TASKS = ("doom_basic_first_shot", "pong_hold_15s")  # episodes of at most 10 s and 20 s


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny policy (params.yaml's `tiny` model), saved the way the train stage exports one."""
    torch.manual_seed(0)
    cfg = policy_profile(load_params(profile="debug")["train"]["models"], "tiny")
    return save_policy(FlowMatchingPolicy(cfg).eval(), tmp_path_factory.mktemp("ckpt") / "policy")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> dict:
    from padflow.commands import evaluate as command

    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_cli_reports_every_task_with_policy_and_baseline_rates(project: Path, policy_dir: Path, capsys) -> None:
    out = project / "outputs/evaluate"
    summary = run_cli(["evaluate", "--checkpoint", str(policy_dir), "--tasks", *SHORT_TASKS, "--episodes", "2",
                       "--baselines", "scripted", "random", "noop", "--workers", "2", "--out", str(out), "--json"], capsys)

    assert [t["id"] for t in summary["tasks"]] == [t for t in all_tasks() if t in SHORT_TASKS]  # suite order
    for task in summary["tasks"]:
        assert (task["category"], task["dim"]) == (get_task(task["id"]).category, get_task(task["id"]).dim)
        for player in ("policy", "random", "noop", "scripted"):
            lo, hi = task[f"{player}_ci"]
            assert 0 <= lo <= task[player] <= hi <= 1
            assert task[f"{player}_episodes"] == 2
    assert summary["failed"] == []
    # the scripted experts clear these tasks; the policy was also run at 4 Euler steps on the same seeds
    assert all(t["scripted"] == 1.0 for t in summary["tasks"])
    assert {e["euler_steps"] for e in summary["euler"]} == {16, 4}
    assert all(e["ms_per_chunk"] > 0 for e in summary["euler"])
    assert set(summary["dims"]) == {"2D", "3D"} and summary["overall"]["policy"]["episodes"] == 4

    table = pd.read_parquet(out / "rates.parquet")
    assert set(table["level"]) == {"task", "game", "category", "dim", "overall"}
    assert table["rate"].between(0, 1).all() and (table["ci_low"] <= table["ci_high"]).all()
    assert "| combat |" in (out / "rates.md").read_text() and "## policy minus each baseline" in (out / "rates.md").read_text()
    assert {d["baseline"] for d in summary["differences"]} == {"scripted", "random", "noop"}
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["rates_by_category.png", "rates_by_task.png"]
    for task_id in SHORT_TASKS:
        mp4, gif = out / "rollouts" / f"{task_id}_seed0.mp4", out / "rollouts" / f"{task_id}_seed0.gif"
        first = next(iter(iter_frames(mp4)))
        assert first.shape[1] >= 480  # upscaled so the overlay is readable
        from PIL import Image

        with Image.open(gif) as image:
            assert image.n_frames > 1 and image.size[0] == 320


@pytest.mark.slow
def test_a_crashing_task_is_recorded_and_the_others_finish(tmp_path: Path, policy_dir: Path, monkeypatch) -> None:
    good = get_task("doom_basic_first_shot")
    # A real engine error: the Atari adapter cannot load a ROM that does not exist.
    broken = Task(id="broken_rom", game="nothing", engine="atari", scenario="no_such_rom", category="combat",
                  dim="2D", time_limit_s=1.0, description="a task whose ROM is missing", success=good.success)
    monkeypatch.setitem(all_tasks(), broken.id, broken)
    cfg = EvaluateConfig(checkpoint=str(policy_dir), tasks=(broken.id, good.id), episodes=1, euler_steps_compare=(),
                         baselines=("noop",), workers=1, videos_per_task=0, out_dir=str(tmp_path / "out"))
    result = evaluate(cfg, tmp_path, seed=0)

    summary = result["summary"]
    assert [f["id"] for f in summary["failed"]] == [broken.id]
    assert "no_such_rom" in summary["failed"][0]["reason"]
    rows = {t["id"]: t for t in summary["tasks"]}
    assert rows[broken.id]["status"] == "failed" and rows[good.id]["status"] == "ok"
    assert rows[good.id]["policy_episodes"] == 1 and rows[good.id]["noop_episodes"] == 1
    # aggregates hold only the task that finished
    assert summary["overall"]["policy"]["episodes"] == 1
    assert result["metrics"]["failed_tasks"] == 1 and "policy.task.broken_rom" not in result["metrics"]
    assert "broken_rom" in (tmp_path / "out/rates.md").read_text()


@pytest.fixture(scope="module")
def blind_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny policy's blind arm (frame_input blind), saved as the train stage exports it."""
    torch.manual_seed(0)
    cfg = policy_profile(load_params(profile="debug")["train"]["models"], "tiny")
    return save_policy(FlowMatchingPolicy(replace(cfg, frame_input="blind")).eval(), tmp_path_factory.mktemp("ckpt") / "blind")


@pytest.mark.slow
def test_blind_prior_and_policy_on_trained_and_held_out_tasks_with_intervals(tmp_path: Path, policy_dir: Path,
                                                                             blind_dir: Path) -> None:
    """One doom task the corpus played, one it did not; the prior replays the doom table's chunks, the blind arm plays
    like the policy."""
    actions = np.zeros((64, ACTION_DIM), np.float32)
    actions[::2, ACTION_INDEX["SOUTH"]] = 1.0  # fire every other frame
    write_action_table(tmp_path / "doom.parquet", actions, fps=35.0)
    write_chunk_index(pd.DataFrame([
        {"video_id": "v", "video_path": "v.mp4", "table_path": "doom.parquet", "start_frame": s, "frames": 16,
         "fps": 35.0, "overlay_box": [0, 0, 1, 1], "game_box": [0, 0, 8, 8], "game": "doom", "density": 1.0, "motion": 50.0}
        for s in range(0, 64, 16)]), tmp_path / "chunks.parquet")
    cfg = EvaluateConfig(checkpoint=str(policy_dir), tasks=("doom_basic_first_shot",),
                         held_out_tasks=("doom_predict_position_hit",), episodes=1, euler_steps_compare=(),
                         baselines=("blind", "prior", "noop"), index="chunks.parquet", workers=1, videos_per_task=0,
                         blind_checkpoint=str(blind_dir), out_dir="out")
    result = evaluate(cfg, tmp_path, seed=0)

    summary, metrics = result["summary"], result["metrics"]
    assert summary["splits"] == {"trained": ["doom_basic_first_shot"], "held_out": ["doom_predict_position_hit"]}
    assert [(t["id"], t["split"]) for t in summary["tasks"]] == [("doom_basic_first_shot", "trained"),
                                                                  ("doom_predict_position_hit", "held_out")]
    for task in summary["tasks"]:
        assert {p: task[f"{p}_episodes"] for p in ("policy", "blind", "prior", "noop")} == dict.fromkeys(
            ("policy", "blind", "prior", "noop"), 1)
    assert summary["no_prior"] == []
    assert summary["overall"]["prior"]["episodes"] == 1 and summary["held_out"]["overall"]["prior"]["episodes"] == 1
    for player in ("policy", "blind", "prior", "noop"):
        for split in ("", "held_out."):
            rate = metrics[f"{player}.{split}overall"]
            assert metrics[f"{player}.{split}overall.ci_low"] <= rate <= metrics[f"{player}.{split}overall.ci_high"]
    page = (tmp_path / "out/rates.md").read_text()
    assert page.index("## Trained tasks") < page.index("## Held-out tasks")
    table = pd.read_parquet(tmp_path / "out/rates.parquet")
    assert set(table["split"]) == {"trained", "held_out"} and set(table["player"]) == {"policy", "blind", "prior", "noop"}


def test_prior_jobs_only_for_games_with_chunks_and_a_missing_index_is_named(tmp_path: Path) -> None:
    cfg = EvaluateConfig(tasks=("pong_hold_15s",), held_out_tasks=("doom_basic_first_shot",), baselines=("prior", "noop"),
                         euler_steps_compare=())
    jobs = build_jobs(cfg, cfg.task_ids(), (0,), prior_games={"doom"})
    assert {(j.task_id, j.player) for j in jobs if j.player == "prior"} == {("doom_basic_first_shot", "prior")}
    with pytest.raises(ValueError, match="no chunk index for the prior baseline"):
        load_priors(cfg, tmp_path, cfg.task_ids())
    with pytest.raises(ValueError, match="held_out_tasks: .*pong_hold_15s.* also in tasks"):
        EvaluateConfig(tasks=("pong_hold_15s",), held_out_tasks=("pong_hold_15s",))


def test_the_blind_baseline_needs_a_blind_arm(tmp_path: Path, policy_dir: Path) -> None:
    cfg = EvaluateConfig(checkpoint=str(policy_dir), tasks=("pong_hold_15s",), held_out_tasks=(), baselines=("blind",),
                         blind_checkpoint=str(tmp_path / "nowhere"), out_dir=str(tmp_path / "out"))
    with pytest.raises(ValueError, match=f"blind_checkpoint {tmp_path / 'nowhere'}: folder not found; train with train.blind_arm"):
        evaluate(cfg, tmp_path, seed=0)
    with pytest.raises(ValueError, match="this policy sees the frame"):
        evaluate(replace(cfg, blind_checkpoint=str(policy_dir)), tmp_path, seed=0)
    assert not (tmp_path / "out").exists()


def test_a_missing_checkpoint_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"checkpoint {tmp_path / 'nowhere'}: folder not found"):
        load_checked_policy(tmp_path / "nowhere", replan_every=16)


def test_an_incompatible_checkpoint_names_the_folder_and_the_mismatch(tmp_path: Path, policy_dir: Path) -> None:
    import shutil

    folder = shutil.copytree(policy_dir, tmp_path / "policy")
    record = json.loads((folder / CONFIG_FILE).read_text())
    record["config"]["dit_width"] *= 2
    (folder / CONFIG_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=rf"checkpoint {folder}: incompatible policy: .*wrong shapes"):
        load_checked_policy(folder, replan_every=16)


def test_replanning_later_than_the_chunk_is_refused(policy_dir: Path) -> None:
    with pytest.raises(ValueError, match="predicts 16-step chunks, but replan_every is 20"):
        load_checked_policy(policy_dir, replan_every=20)


def test_code_defaults_are_params_yaml_defaults() -> None:
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    assert asdict(EvaluateConfig()) == asdict(EvaluateConfig(**params["evaluate"]))


def test_config_names_a_bad_field() -> None:
    with pytest.raises(ValueError, match="baselines"):
        EvaluateConfig(baselines=("expert",))
    with pytest.raises(ValueError, match="euler_steps_compare"):
        EvaluateConfig(euler_steps_compare=(0,))
    with pytest.raises(ValueError, match="unknown task id 'nope'"):
        EvaluateConfig(tasks=("nope",)).task_ids()


@pytest.mark.slow
def test_rollout_gif_shows_in_the_mlflow_ui(tmp_path: Path) -> None:
    """bench/mlflow_ui_screenshot.py: the run's artifact view in headless Chromium shows the rollout GIF."""
    import shutil
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    if not any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")):
        pytest.skip("no Chromium on this machine; install it with `apt-get install -y chromium`")
    root = Path(__file__).resolve().parents[2]
    shot = tmp_path / "ui.png"
    done = subprocess.run([sys.executable, str(root / "bench/mlflow_ui_screenshot.py"), "--out", str(shot)],
                          cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    gif = Path(json.loads(done.stdout.strip().splitlines()[-1])["gif"]).name
    assert gif.endswith(".gif")
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    # Pong's court colour (the GIF's dominant colour) fills a GIF-sized patch of the page only if the GIF renders.
    court = np.array([144, 72, 17])
    assert (np.abs(pixels - court).max(axis=1) <= 12).sum() > 150 * 100


def test_a_truncated_policy_fails_before_any_episode_and_keeps_the_previous_evaluation(tmp_path: Path, policy_dir: Path) -> None:
    import shutil

    from models.policy import WEIGHTS_FILE

    damaged = shutil.copytree(policy_dir, tmp_path / "policy")
    weights = damaged / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    out = tmp_path / "out"
    (out / "rollouts").mkdir(parents=True)
    (out / "rates.md").write_text("the previous evaluation")
    cfg = EvaluateConfig(checkpoint=str(damaged), tasks=(SHORT_TASKS[0],), episodes=1, euler_steps_compare=(),
                         baselines=("noop",), workers=1, videos_per_task=0, out_dir=str(out))
    with pytest.raises(ValueError, match=WEIGHTS_FILE):
        evaluate(cfg, tmp_path, seed=0)
    assert (out / "rates.md").read_text() == "the previous evaluation" and (out / "rollouts").is_dir()


def test_sim_mask_blacks_out_the_drawn_box_for_the_whole_episode(policy_dir: Path) -> None:
    """A box covering the whole picture makes any frame look like a black one; NaN boxes leave the frame alone."""
    model = load_checked_policy(policy_dir, replan_every=16)
    frame = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    masked, plain, unmasked = (PolicySampler(model, 2, boxes) for boxes in
                               (np.array([[0.0, 0.0, 1.0, 1.0]]), None, np.full((1, 4), np.nan)))
    for sampler in (masked, plain, unmasked):
        sampler.reset(3)
    np.testing.assert_array_equal(masked.sample_chunk(frame), plain.sample_chunk(np.zeros_like(frame)))
    plain.reset(3)
    np.testing.assert_array_equal(unmasked.sample_chunk(frame), plain.sample_chunk(frame))
