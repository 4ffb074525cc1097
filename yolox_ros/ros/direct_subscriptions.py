"""Subscriptions whose messages one thread takes itself, outside any executor.

Receiving through rclpy's Python executor and then handing a message to a
worker thread costs a pass through the executor and one more thread wake-up
per message: 0.3 ms of each frame's latency in the node benchmark, and an
echo node answered 1.5 ms sooner this way on an idle machine. The node's
inference thread instead waits on the image subscriptions itself; the node's
executor keeps parameters, timers and everything else, and never sees these
subscriptions.

Each subscription's history (the QoS depth) buffers messages that arrive
while the thread is busy; :meth:`DirectSubscriptions.wait` takes all of them,
so the node keeps the newest frame and counts the others as dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.guard_condition import GuardCondition
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.subscription import Subscription

# rclpy's own wait_for_message() waits on subscriptions the same way (rclpy has no public wait set).
_WaitSet = _rclpy.WaitSet


class _OutsideExecutors(CallbackGroup):
    """A callback group no executor runs: DirectSubscriptions takes its messages."""

    def can_execute(self, entity: Any) -> bool:
        return False

    def beginning_execution(self, entity: Any) -> bool:
        return False

    def ending_execution(self, entity: Any) -> None:
        """Never called: no executor begins an execution in this group."""


class DirectSubscriptions:
    """Subscriptions to ``topics`` (one type); one thread takes their messages with :meth:`wait`.

    ``stop`` may be called from any thread; it wakes a waiting :meth:`wait`.
    """

    def __init__(
        self,
        node: Node,
        msg_type: type,
        topics: Sequence[str],
        qos: QoSProfile,
        qos_overriding_options: QoSOverridingOptions | None = None,
    ) -> None:
        group = _OutsideExecutors()
        self._msg_type = msg_type
        subscriptions: list[Subscription] = [
            node.create_subscription(
                msg_type,
                topic,
                _never_called,
                qos,
                callback_group=group,
                qos_overriding_options=qos_overriding_options,
            )
            for topic in topics
        ]
        self._node = node
        self._subscriptions = subscriptions
        self._handles = [subscription.handle for subscription in subscriptions]
        # Not created through the node: the node's executor must not wait on it either.
        self._stop = GuardCondition(None, None, context=node.context)
        self._stopped = False
        self._wait_set = _WaitSet(len(subscriptions), 1, 0, 0, 0, 0, node.context.handle)

    def wait(self, block: bool) -> list[tuple[int, Any]] | None:
        """Every message that has arrived, as ``(topic index, message)``, oldest first per topic.

        Waits for the first one when ``block`` is true; returns ``[]`` at once
        when nothing is there and ``block`` is false. Returns None once
        :meth:`stop` has been called (a context shutdown alone does not wake it).
        """
        if self._stopped:
            return None
        with ExitStack() as in_use:  # the handles must outlive the wait
            for handle in (*self._handles, self._stop.handle):
                in_use.enter_context(handle)
            self._wait_set.clear_entities()
            for handle in self._handles:
                self._wait_set.add_subscription(handle)
            self._wait_set.add_guard_condition(self._stop.handle)
            self._wait_set.wait(-1 if block else 0)
            if self._stopped:
                return None
            ready = set(self._wait_set.get_ready_entities("subscription"))
            arrivals = []
            for index, handle in enumerate(self._handles):
                if handle.pointer not in ready:
                    continue
                while (taken := handle.take_message(self._msg_type, False)) is not None:
                    arrivals.append((index, taken[0]))
            return arrivals

    def stop(self) -> None:
        """Make the current and every later :meth:`wait` return None."""
        self._stopped = True
        self._stop.trigger()

    def destroy(self) -> None:
        """Unsubscribe and release the stop guard condition (after the waiting thread ended)."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._stop.destroy()


def _never_called(msg: Any) -> None:
    raise AssertionError("DirectSubscriptions are not run by an executor")
