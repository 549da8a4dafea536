"""The corpus stage: its videos and truths depend on the seed only, not on how they are fanned out."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import yaml

from padflow.fanout import TaskRunnerConfig
from tasks.corpus import CorpusConfig, build_corpus

ROOT = Path(__file__).resolve().parents[2]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_code_defaults_are_params_yaml_defaults() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert asdict(CorpusConfig()) == asdict(CorpusConfig(**params["corpus"]))


def test_the_same_seed_makes_the_same_corpus_inline_and_on_threads(tmp_path: Path) -> None:
    cfg = CorpusConfig(videos=3, seconds=(0.5, 0.8), tasks=("pong_score_point", "doom_basic_first_shot"),
                       resolutions=((320, 180),), no_overlay_share=0.34, held_out_share=0.5, workers=1)
    outputs = {}
    for name, runner, workers in (("inline", TaskRunnerConfig(), 1), ("threads", TaskRunnerConfig(kind="thread"), 2)):
        run_cfg = replace(cfg, workers=workers, raw_dir=str(tmp_path / name / "raw"), truth_dir=str(tmp_path / name / "truth"))
        truths, _ = build_corpus(run_cfg, 7, ROOT, (), runner)
        outputs[name] = ([asdict(t) for t in truths], digests(tmp_path / name / "raw"), digests(tmp_path / name / "truth"))
    assert outputs["inline"][0] == outputs["threads"][0]
    assert outputs["inline"][1] == outputs["threads"][1] and len(outputs["inline"][1]) == 3
    assert outputs["inline"][2] == outputs["threads"][2]


def test_a_bad_range_names_its_field() -> None:
    with pytest.raises(ValueError, match="crf"):
        CorpusConfig(crf=(30, 20))
    with pytest.raises(ValueError, match="skills"):
        CorpusConfig(skills=("godlike",))


def test_the_stage_swaps_in_a_whole_new_corpus(tmp_path: Path) -> None:
    from tasks.corpus import stage

    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "old_video.mp4").write_bytes(b"an earlier run's video")
    params = {"seed": 3, "corpus": {"videos": 1, "seconds": [0.5, 0.5], "tasks": ["pong_score_point"],
                                    "resolutions": [[320, 180]], "workers": 1}}
    stage(params, tmp_path)
    raw = sorted(p.name for p in (tmp_path / "data" / "raw").iterdir())
    assert len(raw) == 2 and "manifest.json" in raw and "old_video.mp4" not in raw
    assert (tmp_path / "data" / "corpus_truth" / "corpus_manifest.json").is_file()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["corpus_truth", "raw", "reports"]  # no temp folder left
