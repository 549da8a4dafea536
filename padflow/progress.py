"""Progress of long work: the one way a loop, a fan-out or a training run shows how far it is.

On a terminal a loop is a rich progress bar (all the bars of a process share one live display, so
loops in threads do not fight over the screen); anywhere else (CI logs, `dvc repro`, a stage run by
the Prefect flow, whose output is a pipe) it is a log line every `PERIOD_S` seconds plus one at the
end, so a 10-minute loop is neither silent nor a thousand lines:

    [parser_train renders] 1200/4000 renders (30%) 41.2/s, 68 s left
    [parser_train renders] 4000/4000 renders done in 97 s

A stage also says when it starts and ends (`stage_started`, `stage_finished`), one line each.

    with progress.bar("extract", total=len(videos), unit="videos") as bar:
        for video in videos:
            ...
            bar.advance(note=video.name)

All of it goes to stderr, like log lines: stdout stays for what a command prints as its result
(`padflow ingest --json`). `PADFLOW_PROGRESS=lines` forces the log lines on a terminal, `bars` the
bars off one, `off` silences both (the stage lines stay). Worker processes (spawned by a fan-out)
never draw bars: their stderr is shared with the parent's display.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")

PERIOD_S = 10.0  # seconds between two log lines of one loop when stdout is not a terminal
MODE_ENV = "PADFLOW_PROGRESS"
MODES = ("auto", "bars", "lines", "off")


def mode() -> str:
    """bars (a terminal, main process), lines (a pipe, a file, a worker process) or off; PADFLOW_PROGRESS overrides."""
    chosen = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if chosen not in MODES:
        raise ValueError(f"{MODE_ENV}={chosen!r}: expected one of {', '.join(MODES)}")
    if chosen != "auto":
        return chosen
    interactive = sys.stderr.isatty() and multiprocessing.parent_process() is None
    return "bars" if interactive else "lines"


def duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 1 h 02 min: how long something took, to the precision a person reads."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Bar:
    """One loop's progress; a context manager. `advance(n, note)` as items finish."""

    def __init__(self, description: str, total: int | None, unit: str = "items", period_s: float = PERIOD_S) -> None:
        self.description, self.total, self.unit, self.period_s = description, total, unit, period_s
        self.done = 0
        self.note = ""
        self.mode = mode()
        self._started = time.monotonic()
        self._last_line = self._started
        self._task = None
        self._lock = threading.Lock()

    def __enter__(self) -> Bar:
        self._started = self._last_line = time.monotonic()
        if self.mode == "bars":
            self._task = _display.add(self.description, self.total)
        return self

    def advance(self, n: int = 1, note: str = "") -> None:
        with self._lock:
            self.done += n
            self.note = note or self.note
            now = time.monotonic()
            if self._task is not None:
                _display.update(self._task, self.done, self.note)
            elif self.mode == "lines" and now - self._last_line >= self.period_s:
                self._last_line = now
                say(self._line(now))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            _display.remove(self._task)
            self._task = None
        if self.mode != "off" and kind is None:
            say(f"[{self.description}] {self._count()} {self.unit} done in {duration(time.monotonic() - self._started)}")

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else str(self.done)

    def _line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        parts = [f"[{self.description}] {self._count()} {self.unit}"]
        if self.total:
            parts.append(f"({100 * self.done / self.total:.0f}%)")
        parts.append(f"{rate:.3g}/s" if rate >= 1 else f"{elapsed / max(self.done, 1):.3g} s each")
        if self.total and self.done and self.done < self.total:
            parts.append(f"{duration((self.total - self.done) / rate)} left")
        line = " ".join(parts)
        return f"{line}, last: {self.note}" if self.note else line


def bar(description: str, total: int | None, unit: str = "items", period_s: float = PERIOD_S) -> Bar:
    """A progress `Bar` over `total` items (None when unknown)."""
    return Bar(description, total, unit, period_s)


def track(items: Iterable[T], description: str, total: int | None = None, unit: str = "items") -> Iterator[T]:
    """`items`, showing progress as each one is consumed; `total` defaults to len(items) when it has one."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with bar(description, total, unit) as b:
        for item in items:
            yield item
            b.advance()


def stage_started(stage: str, detail: str = "") -> float:
    """One line as a stage starts; returns the start time for `stage_finished`."""
    say(f"▶ {stage}: started" + (f" ({detail})" if detail else ""))
    return time.monotonic()


def stage_finished(stage: str, started: float, figure: str = "") -> None:
    """One line as a stage ends: its time and its key figure."""
    say(f"✔ {stage}: done in {duration(time.monotonic() - started)}" + (f", {figure}" if figure else ""))


def say(line: str) -> None:
    """A line of news from a loop (a failed item, a result): above the bars when they are drawn, else
    plain stderr, flushed; the same line a log reader and a terminal user see."""
    if _display.active():
        _display.print(line)
    else:
        print(line, file=sys.stderr, flush=True)


class _Display:
    """The process's one rich live display; started by the first bar, stopped with the last."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._progress = None
        self._tasks = 0
        self.console = None  # a rich console on stderr unless set

    def active(self) -> bool:
        return self._progress is not None

    def add(self, description: str, total: int | None) -> int:
        with self._lock:
            if self._progress is None:
                self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
                                          console=self.console or Console(stderr=True), transient=True)
                self._progress.start()
            self._tasks += 1
            return self._progress.add_task(description, total=total, note="")

    def update(self, task: int, completed: int, note: str) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.update(task, completed=completed, note=note)

    def remove(self, task: int) -> None:
        with self._lock:
            if self._progress is None:
                return
            self._progress.remove_task(task)
            self._tasks -= 1
            if self._tasks == 0:
                self._progress.stop()
                self._progress = None

    def print(self, line: str) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=sys.stderr, flush=True)


_display = _Display()
