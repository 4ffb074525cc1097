"""The ROS 2 layer: everything that imports rclpy or a message package."""
