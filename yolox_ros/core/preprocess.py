"""YOLOX letterbox preprocessing into reusable network-input buffers.

Matches the official ``preproc``: the BGR image (no channel swap, no
normalisation, float32 0..255) is resized by ``r = min(H / h, W / w)`` to
``(int(w * r), int(h * r))`` with ``INTER_LINEAR`` and placed at the top-left
of an ``H x W`` canvas filled with 114; boxes map back by ``/ r``.

The only deviation: for extreme aspect ratios where ``int(h * r)`` or
``int(w * r)`` would be 0 (the official code crashes there), the side is
kept at 1 pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from yolox_ros.errors import InvalidImageError

PAD_VALUE = 114


def validate_image(image: object) -> None:
    """Raise ``InvalidImageError`` naming the problem unless ``image`` is BGR uint8 ``H x W x 3``.

    Grayscale and BGRA images are refused rather than converted: only the
    caller knows the true encoding (a 3-channel array may just as well be
    RGB), so conversion belongs where the encoding is known (the ROS node
    converts by the message's ``encoding``). Non-contiguous arrays are fine.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidImageError(f"image must have dtype uint8 (BGR 0..255), got {image.dtype}")
    if image.ndim == 2:
        raise InvalidImageError(
            f"image has shape {image.shape}, a single-channel image; convert it to 3-channel BGR "
            "first (cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))"
        )
    if image.ndim != 3:
        raise InvalidImageError(
            f"image must be H x W x 3, got {image.ndim} dimensions {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"image is empty: shape {image.shape}")
    if image.shape[2] == 4:
        raise InvalidImageError(
            f"image has 4 channels {image.shape}; convert BGRA to BGR first "
            "(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))"
        )
    if image.shape[2] != 3:
        raise InvalidImageError(f"image must have 3 channels (BGR), got shape {image.shape}")


def letterbox_ratio(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> float:
    """Scale factor from the image to the network input (boxes map back by ``/ ratio``)."""
    return min(input_hw[0] / image_hw[0], input_hw[1] / image_hw[1])


def resized_hw(image_hw: tuple[int, int], input_hw: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the image content inside the letterboxed input."""
    ratio = letterbox_ratio(image_hw, input_hw)
    return max(1, int(image_hw[0] * ratio)), max(1, int(image_hw[1] * ratio))


def resize_for_input(
    image: np.ndarray, input_hw: tuple[int, int], out: np.ndarray | None = None
) -> np.ndarray:
    """``image`` scaled as the letterbox scales it (bilinear, ratio ``letterbox_ratio``).

    Inference and training augmentation both resize through here, so a model sees
    the same pixels in training as in the node. ``out`` receives the result when
    given (it must be at least the resized size); an image already at that size
    is returned as it is.
    """
    image_hw = (image.shape[0], image.shape[1])
    height, width = resized_hw(image_hw, input_hw)
    if (height, width) == image_hw:
        return image
    dst = None if out is None else out[:height, :width]
    return cv2.resize(image, (width, height), dst=dst, interpolation=cv2.INTER_LINEAR)


class LetterboxBuffers:
    """Letterboxes images into a preallocated ``[B, 3, H, W]`` float32 tensor per batch size.

    The padding is written only when the content size of a batch slot changes,
    so a camera stream of constant resolution only pays for resize and copy.
    The returned tensor is overwritten by the next ``fill`` with the same batch size.
    """

    def __init__(self, input_size: tuple[int, int]) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self._tensors: dict[int, np.ndarray] = {}
        self._content_hw: dict[int, list[tuple[int, int] | None]] = {}
        self._resized = np.empty((*self.input_size, 3), np.uint8)
        self._planes = np.empty((3, *self.input_size), np.uint8)

    def _tensor(self, batch_size: int) -> np.ndarray:
        tensor = self._tensors.get(batch_size)
        if tensor is None:
            tensor = np.full((batch_size, 3, *self.input_size), PAD_VALUE, np.float32)
            self._tensors[batch_size] = tensor
            self._content_hw[batch_size] = [None] * batch_size
        return tensor

    def fill(
        self, images: Sequence[np.ndarray], batch_size: int | None = None
    ) -> tuple[np.ndarray, list[float]]:
        """Letterbox ``images`` (BGR uint8 HxWx3) into slots ``0..len-1`` of a batch.

        ``batch_size`` (default ``len(images)``) may exceed the image count for
        fixed-batch models; the extra slots keep stale content. Returns the
        tensor and each image's ratio.
        """
        batch_size = len(images) if batch_size is None else batch_size
        if not 0 < len(images) <= batch_size:
            raise ValueError(
                f"need 1..{batch_size} images for a batch of {batch_size}, got {len(images)}"
            )
        tensor = self._tensor(batch_size)
        content_hw = self._content_hw[batch_size]
        ratios = []
        for slot, image in enumerate(images):
            image = np.ascontiguousarray(image)
            image_hw = (image.shape[0], image.shape[1])
            resized = resize_for_input(image, self.input_size, self._resized)
            height, width = resized.shape[:2]
            if content_hw[slot] != (height, width):
                tensor[slot].fill(PAD_VALUE)
                content_hw[slot] = (height, width)
            # De-interleaving with cv2.split and then widening each plane is faster than
            # numpy's strided HWC -> CHW float conversion (one contiguous pass per plane).
            planes = cv2.split(resized, [self._planes[c, :height, :width] for c in range(3)])
            for channel, plane in enumerate(planes):
                np.copyto(tensor[slot, channel, :height, :width], plane)
            ratios.append(letterbox_ratio(image_hw, self.input_size))
        return tensor, ratios
