"""Detector geometry against answers worked out by hand."""

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

from photoface.engine.boxes import iou, nms, proposal_boxes, regress, square
from photoface.engine.mtcnn import pyramid_scales


def test_nms_keeps_best_of_overlapping_and_all_separate():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], dtype=np.float32)
    scores = np.array([0.9, 0.95, 0.5, 0.8])
    # [1,1,11,11] vs [0,0,10,10]: intersection 81, union 119 -> IoU 0.68 > 0.5: dropped.
    assert_array_equal(nms(boxes, scores, 0.5), [1, 2])
    # At 0.7 the 0.68 overlap survives; [0,0,10,9] overlaps [0,0,10,10] by 90/100 = 0.9.
    assert_array_equal(nms(boxes, scores, 0.7), [1, 0, 2])


def test_nms_min_overlap_removes_box_inside_another():
    boxes = np.array([[0, 0, 100, 100], [10, 10, 40, 40]], dtype=np.float32)
    scores = np.array([0.9, 0.8])
    # IoU is 900/10000 = 0.09, but the small box lies wholly inside: overlap over the min area = 1.
    assert_array_equal(nms(boxes, scores, 0.7, "union"), [0, 1])
    assert_array_equal(nms(boxes, scores, 0.7, "min"), [0])


def test_nms_empty():
    assert nms(np.empty((0, 4)), np.empty(0), 0.5).size == 0


def test_iou_known_values():
    a = np.array([[0, 0, 10, 10]], dtype=float)
    b = np.array([[5, 0, 15, 10], [10, 10, 20, 20], [0, 0, 10, 10]], dtype=float)
    assert_allclose(iou(a, b), [[50 / 150, 0.0, 1.0]])


def test_regress_moves_edges_by_fractions_of_size():
    boxes = np.array([[10, 20, 30, 60]], dtype=float)  # 20 wide, 40 high
    offsets = np.array([[0.1, -0.25, 0.5, 0.0]])
    assert_allclose(regress(boxes, offsets), [[12, 10, 40, 60]])


def test_square_keeps_centre_and_takes_longer_side():
    assert_allclose(square(np.array([[10, 20, 30, 60]], dtype=float)), [[0, 20, 40, 60]])


def test_proposal_boxes_map_cells_back_through_the_scale():
    prob = np.zeros((3, 4), dtype=np.float32)
    prob[2, 1] = 0.9  # row 2, column 1
    prob[0, 0] = 0.5  # below threshold
    reg = np.arange(4 * 3 * 4, dtype=np.float32).reshape(4, 3, 4)
    boxes, scores, offsets = proposal_boxes(prob, reg, scale=0.5, threshold=0.6)
    # Cell (x=1, y=2) sees pixels x 2..14, y 4..16 of the half-size image: x 4..28, y 8..32 here.
    assert_allclose(boxes, [[4, 8, 28, 32]])
    assert_allclose(scores, [0.9])
    assert_allclose(offsets, [reg[:, 2, 1]])


def test_pyramid_scales_stop_when_image_is_smaller_than_the_window():
    scales = pyramid_scales(250, 250, min_face=20, factor=0.709)
    assert scales[0] == 12 / 20
    assert_allclose(np.diff(np.log(scales)), np.log(0.709))
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * 0.709
    assert pyramid_scales(10, 10, min_face=20, factor=0.709) == []
