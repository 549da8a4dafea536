"""Progress: a log line every few seconds (and one at the end) off a terminal, bars on one, one line per stage start and end;
all on stderr, so stdout stays a command's result."""

from __future__ import annotations

import io
import time

import pytest

from padflow import progress
from padflow.fanout import TaskRunnerConfig, fan_out


def test_off_a_terminal_a_loop_is_a_line_every_period_and_one_at_the_end(capsys, monkeypatch):
    monkeypatch.setenv(progress.MODE_ENV, "auto")  # pytest's stdout is not a terminal
    with progress.bar("extract", total=6, unit="videos", period_s=0.05) as shown:
        for i in range(6):
            time.sleep(0.03)
            shown.advance(note=f"video{i}")
    lines = capsys.readouterr().err.splitlines()
    assert 1 <= len(lines) - 1 <= 4, "periodic, not a line per item"
    assert lines[0].startswith("[extract] ") and "videos (" in lines[0] and "last: video" in lines[0]
    assert lines[-1].startswith("[extract] 6/6 videos done in ")


def test_track_yields_every_item_and_a_failed_loop_claims_no_end(capsys):
    assert list(progress.track(range(5), "renders", unit="clips")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err.strip().startswith("[renders] 5/5 clips done in")
    with pytest.raises(RuntimeError), progress.bar("train", total=3):
        raise RuntimeError("crashed")
    assert capsys.readouterr().err == ""


def test_fan_out_shows_its_items_under_its_name(capsys):
    assert fan_out(lambda x: x * 2, [1, 2, 3], name="corpus", runner=TaskRunnerConfig(kind="thread"), workers=2,
                   unit="videos") == [2, 4, 6]
    assert "[corpus] 3/3 videos done in" in capsys.readouterr().err


def test_on_a_terminal_loops_share_one_live_display_and_stage_lines_print_above_it(monkeypatch):
    from rich.console import Console

    monkeypatch.setenv(progress.MODE_ENV, "bars")
    screen = io.StringIO()
    monkeypatch.setattr(progress._display, "console", Console(file=screen, force_terminal=True, width=100))
    with progress.bar("parser_train", total=4, unit="steps") as outer, progress.bar("renders", total=2) as inner:
        inner.advance(2)
        outer.advance(4)
        progress.say("a line from a loop")
    assert not progress._display.active(), "the display stops with its last bar"
    assert "a line from a loop" in screen.getvalue()


def test_a_stage_says_when_it_starts_and_ends_with_its_time_and_key_figure(capsys):
    started = progress.stage_started("extract", "profile debug")
    progress.stage_finished("extract", started, "button_acc 0.93")
    start, end = capsys.readouterr().err.splitlines()
    assert start == "▶ extract: started (profile debug)"
    assert end.startswith("✔ extract: done in ") and end.endswith(", button_acc 0.93")


@pytest.mark.parametrize("seconds, shown", [(3.21, "3.2 s"), (42, "42 s"), (185, "3 min 05 s"), (3725, "1 h 02 min")])
def test_durations_read_like_a_person_writes_them(seconds, shown):
    assert progress.duration(seconds) == shown


def test_an_unknown_mode_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(progress.MODE_ENV, "fancy")
    with pytest.raises(ValueError, match="PADFLOW_PROGRESS"):
        progress.mode()
