"""rclpy features that not every supported distribution has, used where present.

Humble (rclpy 3.3) lacks pre- and post-set parameter callbacks (rclpy 4, Iron);
``rclpy.init`` returns a context manager only from rclpy 7.4 on, so the
runner uses init / try_shutdown, which every distribution has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

Normalize = Callable[[Sequence[Parameter]], list[Parameter]]
Validate = Callable[[Sequence[Parameter]], SetParametersResult]
Apply = Callable[[Sequence[Parameter]], None]


def add_parameter_callbacks(
    node: Node, normalize: Normalize, validate: Validate, apply: Apply
) -> None:
    """Normalize before the set, validate on set, apply after every callback accepted.

    Applying after the set (post-set callback) means that a refusal by any on-set
    callback leaves the node unchanged. Without post-set callbacks (Humble) the
    change is applied as soon as ``validate`` accepts it; without pre-set
    callbacks values are taken as sent (an empty list from the command line then
    has no element type and is refused for a string-array parameter).
    """
    if hasattr(node, "add_pre_set_parameters_callback"):
        node.add_pre_set_parameters_callback(normalize)
    if hasattr(node, "add_post_set_parameters_callback"):
        node.add_on_set_parameters_callback(validate)
        node.add_post_set_parameters_callback(apply)
        return

    def validate_and_apply(parameters: Sequence[Parameter]) -> SetParametersResult:
        result = validate(parameters)
        if result.successful:
            apply(parameters)
        return result

    node.add_on_set_parameters_callback(validate_and_apply)
