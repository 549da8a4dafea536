import threading
import time

import pytest

from padflow.video import in_background


def test_items_come_in_order_and_errors_reach_the_caller():
    assert list(in_background(iter(range(50)), maxsize=3)) == list(range(50))

    def failing():
        yield 1
        raise OSError("disk gone")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in in_background(failing(), maxsize=2):
            got.append(item)
    assert got == [1]


def test_a_consumer_that_stops_stops_and_closes_the_producer():
    closed = threading.Event()
    produced = []

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                yield i
                i += 1
        finally:
            closed.set()

    stream = in_background(endless(), maxsize=2)
    assert next(stream) == 0
    stream.close()
    assert closed.wait(5)
    count = len(produced)
    time.sleep(0.05)
    assert len(produced) == count <= 5  # nothing more after the stop, and never far ahead
    with pytest.raises(ValueError, match="maxsize"):
        next(in_background(iter([]), maxsize=0))
