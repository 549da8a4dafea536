from fractions import Fraction

from padflow.video.transcode import output_size, resample_constant_rate


def expected_indices(starts: list[Fraction], end: Fraction) -> list[int]:
    durations = [b - a for a, b in zip(starts, starts[1:])] + [end - starts[-1]]
    return list(resample_constant_rate(zip(range(len(starts)), starts, durations), Fraction(30)))


def test_resampling_keeps_repeats_drops_and_ends_where_the_input_ends():
    def run(starts, end):
        return expected_indices([Fraction(s) for s in starts], Fraction(end))

    assert run([Fraction(i, 30) for i in range(4)], Fraction(4, 30)) == [0, 1, 2, 3]
    assert run([Fraction(i, 60) for i in range(6)], Fraction(6, 60)) == [0, 2, 4]
    assert run([Fraction(i, 15) for i in range(3)], Fraction(3, 15)) == [0, 0, 1, 1, 2, 2]
    jitter = [Fraction(0), Fraction(34, 1000), Fraction(66, 1000), Fraction(101, 1000)]
    assert run(jitter, Fraction(133, 1000)) == [0, 1, 2, 3]  # ms jitter neither drops nor repeats
    assert list(resample_constant_rate([], Fraction(30))) == []


def test_output_size_keeps_aspect_with_even_sides_and_never_upscales():
    assert output_size(1920, 1080, 1280, 720) == (1280, 720)
    assert output_size(400, 240, 256, 144) == (240, 144)
    assert output_size(1080, 1920, 1280, 720) == (404, 720)
    assert output_size(641, 481, 1280, 720) == (640, 480)
    assert output_size(320, 240, 1280, 720) == (320, 240)
