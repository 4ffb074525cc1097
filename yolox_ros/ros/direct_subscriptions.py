"""Subscriptions whose messages one thread takes itself, outside any executor.

Receiving through rclpy's Python executor and then handing a message to a
worker thread costs a pass through the executor and one more thread wake-up
per message (docs/benchmarks.md has what it cost). The node's
inference thread instead waits on the image subscriptions itself; the node's
executor keeps parameters, timers and everything else, and never sees these
subscriptions.

QoS events (a publisher whose QoS cannot be matched) would be handled in
the subscriptions' callback group, which no executor runs: their handlers are
created in the node's default group instead, so the node's executor runs them.

Each subscription's history (the QoS depth) buffers messages that arrive
while the thread is busy; :meth:`DirectSubscriptions.wait` takes all of them,
so the node keeps the newest frame and counts the others as dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from functools import partial
from typing import Any

from rclpy.callback_groups import CallbackGroup
from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
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
        qos: Sequence[QoSProfile],
        qos_overriding_options: QoSOverridingOptions | None = None,
        incompatible_qos: Callable[[int, QoSRequestedIncompatibleQoSInfo], None] | None = None,
    ) -> None:
        """``qos``: one profile per topic; ``incompatible_qos(topic index, event)`` runs in the
        node's executor."""
        group = _OutsideExecutors()
        self._msg_type = msg_type
        subscriptions: list[Subscription] = [
            node.create_subscription(
                msg_type,
                topic,
                _never_called,
                profile,
                callback_group=group,
                qos_overriding_options=qos_overriding_options,
                event_callbacks=SubscriptionEventCallbacks(use_default_callbacks=False),
            )
            for topic, profile in zip(topics, qos, strict=True)
        ]
        self._event_handlers = []
        if incompatible_qos is not None:
            for index, subscription in enumerate(subscriptions):
                callbacks = SubscriptionEventCallbacks(
                    incompatible_qos=partial(incompatible_qos, index), use_default_callbacks=False
                )
                self._event_handlers += callbacks.create_event_handlers(
                    node.default_callback_group, subscription.handle, subscription.topic_name
                )
        for handler in self._event_handlers:
            node.add_waitable(handler)
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

    def publisher_counts(self) -> list[int]:
        """How many publishers each topic has (matched or not)."""
        return [subscription.get_publisher_count() for subscription in self._subscriptions]

    def stop(self) -> None:
        """Make the current and every later :meth:`wait` return None."""
        self._stopped = True
        self._stop.trigger()

    def destroy(self) -> None:
        """Unsubscribe and release the stop guard condition (after the waiting thread ended)."""
        for handler in self._event_handlers:
            self._node.remove_waitable(handler)
            handler.destroy()
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._stop.destroy()


def _never_called(msg: Any) -> None:
    raise AssertionError("DirectSubscriptions are not run by an executor")
