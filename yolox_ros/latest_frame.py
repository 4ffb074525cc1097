"""Latest-frame mailbox: a slow model never works through a backlog of old frames.

Each camera has one slot. A new frame overwrites the unprocessed one (which is
counted as dropped by the caller); the consumer takes the cameras' frames in
turn so that one fast camera cannot starve another.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

FrameT = TypeVar("FrameT")


class LatestFrameMailbox(Generic[FrameT]):
    """Thread-safe: producers call :meth:`put`, one consumer calls :meth:`take`."""

    def __init__(self, num_cameras: int) -> None:
        self._slots: list[FrameT | None] = [None] * num_cameras
        self._next_camera = 0
        self._closed = False
        self._changed = threading.Condition()

    def put(self, camera: int, frame: FrameT) -> bool:
        """Store ``frame`` as the camera's latest; True if it replaced an unprocessed frame."""
        with self._changed:
            replaced = self._slots[camera] is not None
            self._slots[camera] = frame
            self._changed.notify()
        return replaced

    def take(self) -> tuple[int, FrameT] | None:
        """Block until a frame is waiting and return ``(camera, frame)``; None once closed."""
        with self._changed:
            while not self._closed:
                for offset in range(len(self._slots)):
                    camera = (self._next_camera + offset) % len(self._slots)
                    frame = self._slots[camera]
                    if frame is not None:
                        self._slots[camera] = None
                        self._next_camera = (camera + 1) % len(self._slots)
                        return camera, frame
                self._changed.wait()
            return None

    def close(self) -> None:
        """Wake the consumer and make every later :meth:`take` return None."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
