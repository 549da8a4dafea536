"""Run an iterator on a background thread (decode ahead while the caller computes)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def in_background(iterator: Iterable[T], maxsize: int, name: str = "background") -> Iterator[T]:
    """Yield the items of `iterator`, produced on a thread at most `maxsize` items ahead.

    An error the iterator raises is re-raised in the caller's thread where its item would have
    come. When the caller stops early (breaks, or closes the generator), the thread stops after
    its current item and the iterator is closed (so a decoder releases its file).
    """
    if maxsize < 1:
        raise ValueError(f"maxsize must be >= 1, got {maxsize}")
    results: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def produce() -> None:
        source = iter(iterator)
        try:
            for item in source:
                results.put(item)
                if stop.is_set():
                    return
            results.put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it in the caller's thread
            results.put(_Failed(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while (item := results.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                results.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
