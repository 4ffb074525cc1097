"""Why a camera's frames do not arrive: judged once a second, logged when it changes.

"Nothing is published" is the most frequent complaint about detection nodes,
and the causes are silent in ROS 2: nothing publishes on the topic the node
resolved (a remapping or namespace away from the camera's), a publisher offers
a QoS the subscription cannot match (a reliable subscriber to a best-effort
camera), or a publisher is matched but its samples never get through (large
frames over a transport that cannot carry them) or stopped. Each becomes one
log line when it starts and when it ends, and the camera's /diagnostics
status says it for as long as it lasts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from yolox_ros.ros.frame_stats import Health

# A condition that lasts is said again this often (it may have scrolled away).
REPEAT_S = 60.0


@dataclass(frozen=True)
class InputState:
    """A camera's input as last judged: OK, or what is wrong, for the log and diagnostics."""

    health: Health
    message: str
    # ok, no_publisher, incompatible_qos, unmatched, no_frames, no_camera_info
    cause: str

    @property
    def ok(self) -> bool:
        return self.health == Health.OK


_OK = InputState(Health.OK, "frames arriving", "ok")


class InputLiveness:
    """One camera's input: fed with arrivals and QoS events, judged by :meth:`judge`.

    The arrival and event methods may be called from any thread.
    """

    def __init__(
        self, topic: str, frame_timeout_s: float, started_s: float, camera_info_topic: str = ""
    ) -> None:
        self.topic = topic  # resolved: the name users see in `ros2 topic list`
        self.camera_info_topic = camera_info_topic  # resolved; "" when no 3D output is wanted
        self.frame_timeout_s = frame_timeout_s
        self._lock = threading.Lock()
        self._started_s = started_s
        self._last_frame_s: float | None = None
        self._last_camera_info_s: float | None = None
        self._incompatible_policy = ""
        self._incompatible_count = 0
        self._incompatible_seen = 0  # the count when a frame last arrived
        self.state = _OK
        self._said: tuple[InputState, float] | None = None
        self.values: dict[str, object] = {}  # for /diagnostics, from the last judgement

    def frame_arrived(self, now_s: float) -> None:
        with self._lock:
            self._last_frame_s = now_s
            self._incompatible_seen = self._incompatible_count

    def camera_info_arrived(self, now_s: float) -> None:
        with self._lock:
            self._last_camera_info_s = now_s

    def incompatible_qos(self, policy: str, total_count: int) -> None:
        """A publisher was discovered whose QoS this subscription cannot match."""
        with self._lock:
            self._incompatible_policy = policy
            self._incompatible_count = total_count

    def judge(self, now_s: float, publishers: int, matched: int) -> str | None:
        """Judge the input now; the line to log (state changed or lasting), else None.

        ``publishers``: on the topic (ROS graph); ``matched``: those this subscription matched.
        """
        with self._lock:
            last_frame = self._last_frame_s
            last_info = self._last_camera_info_s
            incompatible = self._incompatible_count > self._incompatible_seen
            policy = self._incompatible_policy
        since_frame = now_s - (self._started_s if last_frame is None else last_frame)
        self.values = {
            "publishers": publishers,
            "publishers_matched": matched,
            "seconds_since_frame": None if last_frame is None else f"{now_s - last_frame:.1f}",
            "incompatible_qos_publishers": self._incompatible_count,
        }
        self.state = self._assess(
            now_s, (publishers, matched), since_frame, last_frame is not None, incompatible, policy,
            last_info,
        )  # fmt: skip
        return self._line(now_s)

    def _assess(
        self,
        now_s: float,
        publishers: tuple[int, int],
        since_frame_s: float,
        any_frame: bool,
        incompatible: bool,
        policy: str,
        last_camera_info_s: float | None,
    ) -> InputState:
        if now_s - self._started_s < self.frame_timeout_s:  # discovery takes a moment
            return self.state
        on_topic, matched = publishers
        if incompatible and since_frame_s > self.frame_timeout_s:
            return InputState(
                Health.ERROR,
                f"a publisher on {self.topic} offers a QoS this subscription cannot match "
                f"({policy}): its frames never arrive; match input_reliability or the "
                "qos_overrides parameters to the camera's QoS",
                "incompatible_qos",
            )
        if on_topic == 0:
            return InputState(
                Health.WARN,
                f"no publisher on {self.topic} (the topic this node subscribes to, after "
                "remapping and namespace): check `ros2 topic list` and remap input_topics",
                "no_publisher",
            )
        if matched == 0 and since_frame_s > self.frame_timeout_s:
            return InputState(
                Health.WARN,
                f"{on_topic} publisher(s) on {self.topic}, none matched by this subscription: "
                "their QoS or message type differs",
                "unmatched",
            )
        if since_frame_s > self.frame_timeout_s:
            never = "no frame arrived" if any_frame else "no frame has arrived"
            return InputState(
                Health.WARN,
                f"{matched} publisher(s) matched on {self.topic} but {never} for "
                f"{since_frame_s:.0f} s: the camera stopped, or its frames cannot get through "
                "(large images over Fast DDS without the large-images profile: see README)",
                "no_frames",
            )
        if self.camera_info_topic:
            last_info = self._started_s if last_camera_info_s is None else last_camera_info_s
            since_info = now_s - last_info
            if since_info > self.frame_timeout_s:
                return InputState(
                    Health.WARN,
                    f"no camera_info on {self.camera_info_topic} for {since_info:.0f} s: "
                    "no 3D positions published",
                    "no_camera_info",
                )
        return _OK

    def _line(self, now_s: float) -> str | None:
        said = self._said
        if said is not None and said[0].cause == self.state.cause:
            if self.state.ok or now_s - said[1] < REPEAT_S:
                return None
        elif said is None and self.state.ok:
            return None  # nothing was wrong: nothing to say
        self._said = (self.state, now_s)
        if self.state.ok:
            return f"{self.topic}: {self.state.message} again"
        return self.state.message
