import pytest

from padflow.overlay.crops import box_iou, placement_transform, transform_box


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_a_placement_transform_round_trips():
    t = placement_transform((10, 20, 110, 70), (200, 100))
    assert transform_box(t, (200, 100), (640, 360)) == (10, 20, 110, 70)
