"""Confirmed signs for a planner: tracks seen often enough, big enough, where it looks.

Typical use, once per image, after the tracker::

    tracks = tracker.update(detections, stamp_s)
    events = signs.update(tracks, tracker.live_track_ids, (width, height), stamp_s)

A track counts in a frame when it is matched there with a box whose longer side is
at least ``min_box_px`` and whose centre is inside ``region_of_interest``. It is
confirmed once it counted in ``confirm_hits`` of its last ``confirm_window`` frames
(the frames since it started, when it is younger), and is reported from that frame on.

A confirmed track stays confirmed until the tracker drops it. It is reported in
every frame it counts, and also while it is lost (alive in the tracker, that is
lost for at most the tracker's ``max_lost_s``) with the box of its last counted
frame and ``matched`` false: a sign hidden for a frame or two by a passing car is
still there, and the planner should not see it blink. (A sign that has left the view
is held as long; a planner wanting only fresh sightings keeps the matched events,
or reads ``seen_s``.) A matched frame that does
not count (the box left the region) stops the reports until the track counts
again. ``confirm_hits`` is at least 2, so a detection in a single frame is never
reported.

The confirmation state lives exactly as long as the tracker's track: it is dropped
when the track's id leaves the tracker's live ids.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

import numpy as np

from yolox_ros.core.settings import SettingSpec, SpecSettings
from yolox_ros.core.tracking import Track
from yolox_ros.errors import ConfigError

__all__ = ["SIGN_EVENT_SETTINGS", "SignEvent", "SignEventSettings", "SignEvents"]


# fmt: off
SIGN_EVENT_SETTINGS = (
    SettingSpec(
        "confirm_hits", "int", 3,
        "frames, among a track's last confirm_window, in which it must count (matched, big "
        "enough, in the region) to be confirmed; at least 2, so a one-frame detection never is",
        minimum=2,
    ),
    SettingSpec(
        "confirm_window", "int", 5,
        "frames, the latest included, over which confirm_hits are counted (at least "
        "confirm_hits); a frame in which the track was lost counts as a miss",
        minimum=2,
    ),
    SettingSpec(
        "min_box_px", "float", 0.0,
        "least longer side, in pixels, of a box that counts (smaller signs are too far to "
        "classify reliably); 0: any size",
        minimum=0.0,
    ),
    SettingSpec(
        "region_of_interest", "floats", (0.0, 0.0, 1.0, 1.0),
        "x1, y1, x2, y2 as fractions of the image's width and height: a box counts only while "
        "its centre is inside (edges included)",
        minimum=0.0, maximum=1.0,
    ),
)
# fmt: on


class SignEventSettings(SpecSettings, specs=SIGN_EVENT_SETTINGS):
    """When a track becomes a sign to report (a field per ``SIGN_EVENT_SETTINGS`` entry)."""

    def check_together(self) -> None:
        if self.confirm_window < self.confirm_hits:
            raise ConfigError(
                f"confirm_window must be at least confirm_hits ({self.confirm_hits}), "
                f"got {self.confirm_window}"
            )
        region = self.region_of_interest
        if len(region) != 4 or not (region[0] < region[2] and region[1] < region[3]):
            raise ConfigError(
                "region_of_interest must be x1, y1, x2, y2 with x1 < x2 and y1 < y2, "
                f"got {self.region_of_interest!r}"
            )


class SignEvent(NamedTuple):
    """A confirmed sign in the latest frame."""

    track_id: int
    """The tracker's id of the sign."""
    class_id: int
    """The track's voted class when it last counted."""
    class_name: str
    """The name of class_id."""
    box: np.ndarray
    """x1, y1, x2, y2 in pixels (read-only) of the frame in which the sign last counted."""
    score: float
    """The detection's score in that frame."""
    seen_s: float
    """The stamp of that frame, in seconds."""
    confirmed_s: float
    """The stamp of the frame in which the track was confirmed."""
    matched: bool
    """Whether the sign was seen in this frame; false while it is lost and held."""


class _Confirmation:
    """What one track has counted so far."""

    __slots__ = ("counted", "frame", "confirmed_s", "shown")

    def __init__(self, frame: int) -> None:
        self.counted = 0  # bit k: counted k frames before ``frame``
        self.frame = frame  # the latest frame in which the track was matched
        self.confirmed_s: float | None = None
        self.shown: SignEvent | None = None  # once confirmed: its last counted frame


class SignEvents:
    """Confirms the tracks of one tracker; feed it every frame the tracker processes."""

    def __init__(self, settings: SignEventSettings | None = None) -> None:
        self.settings = settings or SignEventSettings()
        self._window_mask = (1 << self.settings.confirm_window) - 1
        self.reset()

    def reset(self) -> None:
        """Forget every track (as the tracker's reset does)."""
        self._frame = 0
        self._confirmations: dict[int, _Confirmation] = {}

    def update(
        self,
        tracks: Sequence[Track],
        live_track_ids: Collection[int],
        image_size: tuple[int, int],
        stamp_s: float,
    ) -> list[SignEvent]:
        """The confirmed signs after one frame.

        ``tracks`` are the tracker's matched tracks of the frame, ``live_track_ids`` its
        live ids after it (``Tracker.live_track_ids``), ``image_size`` the image's (width,
        height). Matched signs come first, in the order of ``tracks``, then held ones.
        """
        self._frame += 1
        frame, window_mask = self._frame, self._window_mask
        confirm_hits = self.settings.confirm_hits
        confirmations = self._confirmations
        for track_id in confirmations.keys() - live_track_ids:
            del confirmations[track_id]

        events: list[SignEvent] = []
        for track, counts in zip(tracks, self._counting(tracks, image_size), strict=True):
            confirmation = confirmations.get(track.track_id)
            if confirmation is None:
                confirmation = confirmations[track.track_id] = _Confirmation(frame)
            # Shifted by every frame since the last match: the frames lost between, misses.
            counted = (confirmation.counted << (frame - confirmation.frame)) & window_mask | counts
            confirmation.counted, confirmation.frame = counted, frame
            if not counts:
                confirmation.shown = None
                continue
            if confirmation.confirmed_s is None:
                if counted.bit_count() < confirm_hits:
                    continue
                confirmation.confirmed_s = stamp_s
            confirmation.shown = SignEvent(
                track.track_id,
                track.class_id,
                track.class_name,
                track.box,
                track.score,
                stamp_s,
                confirmation.confirmed_s,
                True,
            )
            events.append(confirmation.shown)
        events.extend(
            confirmation.shown._replace(matched=False)
            for confirmation in confirmations.values()
            if confirmation.shown is not None and confirmation.frame != frame
        )
        return events

    def _counting(self, tracks: Sequence[Track], image_size: tuple[int, int]) -> list[bool]:
        """Whether each track's box is big enough and centred in the region of interest."""
        if not tracks:
            return []
        boxes = np.array([track.box for track in tracks])
        width, height = image_size
        region = np.multiply(self.settings.region_of_interest, (width, height, width, height))
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        inside = ((centres >= region[:2]) & (centres <= region[2:])).all(axis=1)
        big_enough = (boxes[:, 2:] - boxes[:, :2]).max(axis=1) >= self.settings.min_box_px
        return (inside & big_enough).tolist()
