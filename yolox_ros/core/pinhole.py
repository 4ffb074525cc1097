"""Monocular distance from a known object height: boxes in pixels to 3-D positions.

An object of known physical height ``H`` whose image spans ``h`` pixels at focal
length ``f`` is at depth ``z = f * H / h``. Done in undistorted normalised image
coordinates (``f = 1``), the top and bottom of the object give
``z = H / (y_bottom - y_top)``, and the ray through its centre scaled to that depth
gives ``x`` and ``y``. Under distortion the box's sides are curves once undistorted;
the object is read as the largest upright rectangle inside them (for a thin object,
the undistorted top-centre and bottom-centre of the box). This assumes the object
stands roughly parallel to the image's vertical axis and is not truncated, which is
why boxes touching the top or bottom of the image give no position.

The camera is described by the fields of a ``sensor_msgs/CameraInfo`` (ROS-free
here: the ROS layer passes plain values):

- distortion models ``plumb_bob`` (4 or 5 coefficients), ``rational_polynomial``
  (8, or OpenCV's 12 and 14), ``equidistant`` (4, OpenCV's fisheye model) and ``""``
  (none). Known models with no or all-zero coefficients mean no distortion, as in
  ``image_geometry``.
- binning and region of interest: ``K`` is for the full sensor resolution;
  :meth:`CameraModel.from_camera_info_fields` folds both into the intrinsics of
  the image actually published.
- ``P`` for images that are already rectified (``image_rect``): see
  :meth:`CameraModel.rectified`. ``R`` is not used: positions are in the camera's
  optical frame (x right, y down, z forward, metres), or in the rectified frame
  for a rectified model (the same for a monocular camera, whose ``R`` is identity).

Pixel convention: boxes are continuous coordinates in which the image spans
``[0, width] x [0, height]`` (COCO, and the detector's clipping), while ``K``
puts pixel centres at integers (OpenCV, ROS); the half-pixel shift is applied here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

PLUMB_BOB = "plumb_bob"
RATIONAL_POLYNOMIAL = "rational_polynomial"
EQUIDISTANT = "equidistant"
NO_DISTORTION = ""
# Coefficient counts OpenCV accepts for each CameraInfo distortion model.
COEFFICIENT_COUNTS = {
    NO_DISTORTION: (0,),
    PLUMB_BOB: (4, 5),
    RATIONAL_POLYNOMIAL: (8, 12, 14),
    EQUIDISTANT: (4,),
}
# OpenCV's default 5 iterations leave ~0.05 px error under strong barrel distortion;
# stopping at 1e-3 px reprojection error (20 iterations at most) costs ~25 us per 100 points.
UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-3)
# Points sampled on a box's sides, as (x, y) columns of x1, y1, x2, y2: the corners
# top-left, top-right, bottom-left, bottom-right, then the points of the top, bottom,
# left and right sides nearest the principal point, whose placeholder coordinates
# (at NEAR_X, NEAR_Y of the flattened pairs) are replaced.
SAMPLE_COLUMNS = np.array([0, 1, 2, 1, 0, 3, 2, 3, 0, 1, 0, 3, 0, 1, 2, 3])
NEAR_X, NEAR_Y = slice(8, 11, 2), slice(13, 16, 2)


def _pixel_map(scale_x: float, scale_y: float, offset_x: float, offset_y: float) -> np.ndarray:
    """Matrix taking pixel-centre coordinates of a source image to those of a derived image.

    The derived image starts at ``(offset_x, offset_y)`` of the source (a crop) and
    has ``scale`` derived pixels per source pixel (a resize or binning). Pixel
    centres sit at integers, so a source pixel ``u`` maps to
    ``(u - offset + 0.5) * scale - 0.5`` (what ``cv2.resize`` does).
    """
    return np.array(
        [
            [scale_x, 0.0, (0.5 - offset_x) * scale_x - 0.5],
            [0.0, scale_y, (0.5 - offset_y) * scale_y - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics and distortion of the image the boxes are in.

    ``k`` (3x3, or the 9 values of CameraInfo's ``k``) and ``p`` (3x4 or 12 values,
    optional) are for an image of ``width`` x ``height`` pixels; ``d`` holds the
    distortion coefficients of ``distortion_model``. Arrays are stored as read-only
    float64. Compared by identity (arrays have no single truth value).

    Raises ValueError naming the problem: an uncalibrated camera (``fx`` or ``fy``
    not positive, as when ``k`` is all zeros), an unknown distortion model, a
    coefficient count the model does not have, skew (OpenCV's undistortion
    ignores it), malformed or non-finite matrices, or a non-positive image size.
    """

    width: int
    height: int
    k: np.ndarray
    d: np.ndarray
    distortion_model: str = NO_DISTORTION
    p: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera image size {self.width}x{self.height} is not positive")
        k = np.array(self.k, dtype=np.float64)
        if k.size != 9:
            raise ValueError(f"camera matrix K has {k.size} values, not 9")
        k = k.reshape(3, 3)
        if not np.isfinite(k).all():
            raise ValueError("camera matrix K is not finite")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ValueError(
                f"camera is not calibrated: K has fx={k[0, 0]:g}, fy={k[1, 1]:g} (must be > 0)"
            )
        if k[0, 1] != 0:
            raise ValueError(f"camera matrix K has skew {k[0, 1]:g}: not supported")
        if k[1, 0] != 0 or k[2].tolist() != [0.0, 0.0, 1.0]:
            raise ValueError(f"camera matrix K is not of the form [fx 0 cx; 0 fy cy; 0 0 1]: {k}")
        d = np.array(self.d, dtype=np.float64).reshape(-1)
        if self.distortion_model not in COEFFICIENT_COUNTS:
            raise ValueError(
                f"unknown distortion model {self.distortion_model!r}: "
                f"expected one of {sorted(COEFFICIENT_COUNTS)}"
            )
        if not np.isfinite(d).all():
            raise ValueError("distortion coefficients D are not finite")
        counts = COEFFICIENT_COUNTS[self.distortion_model]
        # As in image_geometry, no coefficients or all-zero ones mean no distortion.
        if not self.distortion_model and d.any():
            raise ValueError(f"distortion coefficients D={d.tolist()} without a distortion model")
        if self.distortion_model and d.size and d.size not in counts:
            raise ValueError(
                f"distortion model {self.distortion_model!r} takes {' or '.join(map(str, counts))}"
                f" coefficients, D has {d.size}"
            )
        object.__setattr__(self, "k", _readonly(k))
        object.__setattr__(self, "d", _readonly(d))
        if self.p is not None:
            p = np.array(self.p, dtype=np.float64)
            if p.size != 12:
                raise ValueError(f"projection matrix P has {p.size} values, not 12")
            if not np.isfinite(p).all():
                raise ValueError("projection matrix P is not finite")
            object.__setattr__(self, "p", _readonly(p.reshape(3, 4)))

    @classmethod
    def from_camera_info_fields(
        cls,
        *,
        width: int,
        height: int,
        k: Sequence[float] | np.ndarray,
        d: Sequence[float] | np.ndarray,
        distortion_model: str,
        p: Sequence[float] | np.ndarray | None = None,
        binning_x: int = 0,
        binning_y: int = 0,
        roi_x_offset: int = 0,
        roi_y_offset: int = 0,
        roi_width: int = 0,
        roi_height: int = 0,
    ) -> CameraModel:
        """The model of the image a CameraInfo describes, binning and ROI applied.

        CameraInfo's ``k`` and ``p`` are for the full sensor (``width`` x ``height``);
        a region of interest (in full-resolution pixels; all zeros = full image) and
        binning (0 or 1 = none) shrink the published image, so the intrinsics are
        mapped to it. ``roi.do_rectify`` is not needed here.
        """
        bin_x, bin_y = max(binning_x, 1), max(binning_y, 1)
        if roi_width == 0 and roi_height == 0:
            roi_width, roi_height = width, height
        if (
            min(roi_x_offset, roi_y_offset) < 0
            or roi_width <= 0
            or roi_height <= 0
            or roi_x_offset + roi_width > width
            or roi_y_offset + roi_height > height
        ):
            raise ValueError(
                f"region of interest {roi_width}x{roi_height} at ({roi_x_offset}, {roi_y_offset})"
                f" does not fit in the {width}x{height} image"
            )
        if (bin_x, bin_y, roi_width, roi_height) == (1, 1, width, height):
            return cls(width, height, k, d, distortion_model, p)
        mapping = _pixel_map(1.0 / bin_x, 1.0 / bin_y, roi_x_offset, roi_y_offset)
        return cls(
            roi_width // bin_x,
            roi_height // bin_y,
            mapping @ np.asarray(k, dtype=np.float64).reshape(3, 3),
            d,
            distortion_model,
            None if p is None else mapping @ np.asarray(p, dtype=np.float64).reshape(3, 4),
        )

    @property
    def distorted(self) -> bool:
        return bool(self.d.any())

    def rectified(self) -> CameraModel:
        """The model of the rectified image (``image_rect``): intrinsics ``P[:, :3]``, no
        distortion.

        P's translation column (a stereo baseline) is ignored: positions are in this
        camera's rectified frame. Raises ValueError when P is absent or uncalibrated.
        """
        if self.p is None:
            raise ValueError("camera has no projection matrix P: cannot model a rectified image")
        if self.p[0, 0] <= 0 or self.p[1, 1] <= 0:
            raise ValueError(
                f"camera is not calibrated: P has fx={self.p[0, 0]:g}, fy={self.p[1, 1]:g}"
                " (must be > 0)"
            )
        return CameraModel(self.width, self.height, self.p[:, :3], (), NO_DISTORTION)

    def for_image(self, width: int, height: int) -> CameraModel:
        """This model for an image of ``width`` x ``height``: itself, or scaled for a resize.

        An image of another size is taken to be this camera's image resized (as
        ``image_proc`` resize does), so ``K`` and ``P`` are scaled. If no single scale
        rounds both sides to the new size, the image was cropped or stretched
        rather than resized, and guessing would misplace every position: ValueError.
        """
        if (width, height) == (self.width, self.height):
            return self
        if width <= 0 or height <= 0:
            raise ValueError(f"image size {width}x{height} is not positive")
        scale_x, scale_y = width / self.width, height / self.height
        # The sides of a resize are rounded: some scale s gives width and height within half
        # a pixel of width * s and height * s.
        lowest = max((width - 0.5) / self.width, (height - 0.5) / self.height)
        highest = min((width + 0.5) / self.width, (height + 0.5) / self.height)
        if lowest > highest:
            raise ValueError(
                f"image is {width}x{height} but the camera is calibrated for "
                f"{self.width}x{self.height}: not a resize of it (aspect ratio differs)"
            )
        mapping = _pixel_map(scale_x, scale_y, 0.0, 0.0)
        return CameraModel(
            width,
            height,
            mapping @ self.k,
            self.d,
            self.distortion_model,
            None if self.p is None else mapping @ self.p,
        )

    def normalised(self, points: np.ndarray) -> np.ndarray:
        """Undistorted normalised image coordinates ``(x/z, y/z)`` of pixel points (M, 2).

        ``points`` use the pixel-centre convention of ``K`` (no half-pixel shift here).
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
        if not points.shape[0]:  # OpenCV returns None for no points
            return np.zeros((0, 2))
        if not self.distorted:
            fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
            return (points.reshape(-1, 2) - (cx, cy)) / (fx, fy)
        if self.distortion_model == EQUIDISTANT:
            undistorted = _undistort_fisheye(points, self.k, self.d)
        else:
            undistorted = cv2.undistortPointsIter(
                points, self.k, self.d, None, None, UNDISTORT_CRITERIA
            )
        return undistorted.reshape(-1, 2)


def _undistort_fisheye(points: np.ndarray, k: np.ndarray, d: np.ndarray) -> np.ndarray:
    # OpenCV before 4.6 (Ubuntu 22.04 / Humble has 4.5.4) has no criteria here: its fixed
    # 10 iterations are what it can do.
    try:
        return cv2.fisheye.undistortPoints(points, k, d, criteria=UNDISTORT_CRITERIA)
    except cv2.error:
        return cv2.fisheye.undistortPoints(points, k, d)


def locate(
    boxes: np.ndarray,
    heights_m: np.ndarray,
    camera: CameraModel,
    *,
    image_size: tuple[int, int] | None = None,
    edge_margin_px: float = 1.0,
) -> np.ndarray:
    """3-D positions (N, 3) float64 in metres of objects of known height from their boxes.

    ``boxes`` (N, 4) are ``x1, y1, x2, y2`` in pixels of the image; ``heights_m`` (N,)
    the physical height of each object (e.g. ``class_heights(...)[class_ids]``).
    Positions are in the camera's optical frame: x right, y down, z forward; the
    point is the object's centre.

    ``image_size`` ``(width, height)``: the size of the image the boxes are in. Pass
    it: a resized image is handled (:meth:`CameraModel.for_image`), any other size
    mismatch raises ValueError. Without it the image is taken to be the camera's.

    A row is NaN when no distance can be given: the object height is not a positive
    finite number (unknown class), the box is not finite, has no height or a negative
    width, its top or
    bottom lies within ``edge_margin_px`` of the image edge (the detector clips
    boxes, and a truncated box would put the object too far; 0 turns this off for
    clipped boxes), or its undistorted top is not above its bottom.
    """
    if image_size is not None:
        camera = camera.for_image(*image_size)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    heights_m = np.asarray(heights_m, dtype=np.float64).reshape(-1)
    if heights_m.shape[0] != boxes.shape[0]:
        raise ValueError(f"{boxes.shape[0]} boxes but {heights_m.shape[0]} heights")
    valid = (
        np.isfinite(heights_m)
        & (heights_m > 0)
        & np.isfinite(boxes).all(axis=1)
        & (boxes[:, 3] > boxes[:, 1])
        & (boxes[:, 2] >= boxes[:, 0])
        & (boxes[:, 1] >= edge_margin_px)
        & (boxes[:, 3] <= camera.height - edge_margin_px)
    )
    # Box edges to K's pixel-centre convention.
    shifted = boxes[valid] - 0.5
    # Each side of the box is sampled at its corners and at its point nearest the
    # principal point: under radial distortion the undistorted side is monotonic
    # in the distance from there, so these hold its extremes.
    samples = shifted[:, SAMPLE_COLUMNS]
    samples[:, NEAR_X] = np.minimum(np.maximum(shifted[:, :1], camera.k[0, 2]), shifted[:, 2:3])
    samples[:, NEAR_Y] = np.minimum(np.maximum(shifted[:, 1:2], camera.k[1, 2]), shifted[:, 3:])
    u = camera.normalised(samples.reshape(-1, 2)).reshape(-1, 16)
    # The object is taken to be the largest upright rectangle inside the undistorted
    # box (whose sides are curves): its distorted image then touches every side of
    # the box, as the bounding box of the object's image does. Reading only the
    # top-centre and bottom-centre points instead puts wide objects near the image
    # corners several per cent too close under moderate barrel distortion.
    top = np.maximum(np.maximum(u[:, 1], u[:, 3]), u[:, 9])
    bottom = np.minimum(np.minimum(u[:, 5], u[:, 7]), u[:, 11])
    left = np.maximum(np.maximum(u[:, 0], u[:, 4]), u[:, 12])
    right = np.minimum(np.minimum(u[:, 2], u[:, 6]), u[:, 14])
    span = bottom - top
    span[span <= 0] = np.nan  # NaN propagates without a division warning
    depth = heights_m[valid] / span
    located = np.empty((depth.shape[0], 3))
    np.multiply(left + right, 0.5 * depth, out=located[:, 0])
    np.multiply(top + bottom, 0.5 * depth, out=located[:, 1])
    located[:, 2] = depth
    if located.shape[0] == boxes.shape[0]:
        return located
    positions = np.full((boxes.shape[0], 3), np.nan)
    positions[valid] = located
    return positions


def class_heights(
    class_names: Sequence[str], heights: Mapping[str, float], default: float | None = None
) -> np.ndarray:
    """Per-class object heights in metres (C,) float64, indexed by class id.

    ``class_names`` are the model's classes in id order; ``heights`` maps a class name
    to its physical height; classes not in it get ``default``, or NaN when it is None,
    so :func:`locate` gives them no position. Build it once and index it with the
    detections' class ids. Raises ValueError for a height that is not a positive
    finite number, or a name in ``heights`` that is no class (most likely a typo that
    would otherwise silently disable the class).
    """
    unknown = sorted(set(heights) - set(class_names))
    if unknown:
        raise ValueError(f"object heights given for unknown classes: {unknown}")
    named = [(f"object height of {name!r}", value) for name, value in heights.items()]
    for what, value in [*named, ("default object height", default)]:
        if value is not None and not (np.isfinite(value) and value > 0):
            raise ValueError(f"{what} is {value}: must be a positive number")
    fallback = np.nan if default is None else float(default)
    return np.array([heights.get(name, fallback) for name in class_names], dtype=np.float64)
