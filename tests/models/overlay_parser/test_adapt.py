"""Adapting a trained parser to one skin: a new loadable parser that differs from the base, which stays as it was."""

from pathlib import Path

import pytest
import torch

from models.overlay_parser import OverlayParser, ParserConfig, load_parser, save_parser
from models.overlay_parser.adapt import AdaptConfig, adapt_parser
from padflow.overlay.synth import SynthConfig
from tasks.parser_train import ParserTrainConfig

TINY = ParserConfig(crop_size=(64, 48), hidden_sizes=(8, 16, 24, 32), num_attention_heads=(1, 1, 1, 1), head_size=16, grid=5)
# parser_train's settings, shrunk: one game's frames behind the overlay, short clips at the tiny parser's crop size
SOURCE = ParserTrainConfig(background_tasks=("pong_score_point",), background_frames=4, render_workers=1, model=TINY,
                           synth=SynthConfig(crop_size=TINY.crop_size, frames_per_clip=3))
FEW = AdaptConfig(steps=4, samples=32, eval_samples=16, batch_size=8, warmup_steps=1, curve_every=2)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_parser(OverlayParser(TINY), tmp_path / "base")


def test_adapting_writes_a_new_parser_and_card_and_leaves_the_base_alone(base: Path, tmp_path: Path):
    files = {p.name: p.read_bytes() for p in base.iterdir()}
    result = adapt_parser(base, "xbox-04", tmp_path / "adapted", FEW, SOURCE, seed=0)

    assert {p.name: p.read_bytes() for p in base.iterdir()} == files  # the base parser is untouched
    before, after = load_parser(base).state_dict(), load_parser(tmp_path / "adapted").state_dict()
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)
    assert result.steps == 4 and result.train_pairs == 32 and result.eval_pairs == 16
    assert set(result.before) == set(result.after) == {"button_f1", "button_accuracy", "button_frame_accuracy", "stick_r2"}
    assert [p["step"] for p in result.curve] == [0, 2, 4]  # the base, then every curve_every steps
    card = (tmp_path / "adapted" / "README.md").read_text()
    assert "xbox-04" in card and result.base_digest in card and "| after_button_f1 |" in card and "| steps | 4 |" in card


def test_bad_input_is_refused_naming_it(base: Path, tmp_path: Path):
    with pytest.raises(ValueError, match=r"skin 'xbox-4': not in the library .*nearest: xbox-04"):
        adapt_parser(base, "xbox-4", tmp_path / "out", FEW, SOURCE, seed=0)
    with pytest.raises(ValueError, match=r"nowhere: parser folder not found"):
        adapt_parser(tmp_path / "nowhere", "xbox-04", tmp_path / "out", FEW, SOURCE, seed=0)
    with pytest.raises(ValueError, match=r"base: is the parser being adapted"):
        adapt_parser(base, "xbox-04", base, FEW, SOURCE, seed=0)
    assert not (tmp_path / "out").exists()
