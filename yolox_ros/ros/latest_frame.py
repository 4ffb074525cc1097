"""Latest-frame slots: a slow model never works through a backlog of old frames.

Each camera has one slot. A new frame overwrites the unprocessed one (which the
caller counts as dropped); frames are taken from the cameras in turn so that
one fast camera cannot starve another. Used by the inference thread alone.
"""

from __future__ import annotations

from typing import Generic, TypeVar

FrameT = TypeVar("FrameT")


class LatestFrames(Generic[FrameT]):
    """One slot per camera, taken round-robin."""

    def __init__(self, num_cameras: int) -> None:
        self._slots: list[FrameT | None] = [None] * num_cameras
        self._next_camera = 0

    def put(self, camera: int, frame: FrameT) -> bool:
        """Store ``frame`` as the camera's latest; True if it replaced an unprocessed frame."""
        replaced = self._slots[camera] is not None
        self._slots[camera] = frame
        return replaced

    def empty(self) -> bool:
        return all(frame is None for frame in self._slots)

    def take(self) -> tuple[int, FrameT] | None:
        """The next camera's waiting frame as ``(camera, frame)``, or None when none waits."""
        for offset in range(len(self._slots)):
            camera = (self._next_camera + offset) % len(self._slots)
            frame = self._slots[camera]
            if frame is not None:
                self._slots[camera] = None
                self._next_camera = (camera + 1) % len(self._slots)
                return camera, frame
        return None
