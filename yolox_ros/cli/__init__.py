"""Command lines (argparse only): ``python -m yolox_ros COMMAND``, one module per command."""
