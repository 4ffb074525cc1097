import ast
import re
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "yolox_ros"
# The version's one home is package.xml, as for any ROS package.
XML = (Path(__file__).parent / "package.xml").read_text()
VERSION = re.search(r"<version>([^<]+)</version>", XML).group(1)
# The offline commands' one home is COMMANDS in yolox_ros/__main__.py: each is also yolox_NAME.
MAIN = ast.parse((Path(__file__).parent / PACKAGE / "__main__.py").read_text())
COMMANDS = next(
    ast.literal_eval(node.value)
    for node in MAIN.body
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COMMANDS"
)

setup(
    name=PACKAGE,
    version=VERSION,
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    # The training's fused BatchNorm+SiLU kernel, compiled when a CPU run starts.
    package_data={f"{PACKAGE}.training.kernels": ["*.c"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (
            f"share/{PACKAGE}/config",
            glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml"),
        ),
        (f"share/{PACKAGE}/models", glob("models/*.onnx")),
        (f"share/{PACKAGE}/data/demo_sequence", glob("data/demo_sequence/*")),
    ],
    install_requires=["setuptools", "numpy", "opencv-python-headless", "onnxruntime", "scipy"],
    zip_safe=True,
    maintainer="yolox_ros developers",
    maintainer_email="yolox_ros@example.com",
    description="YOLOX object detection for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "yolox_node = yolox_ros.ros.node:main",
            "yolox_lifecycle_node = yolox_ros.ros.lifecycle_node:main",
            "image_replay = yolox_ros.ros.replay:main",
            *(f"yolox_{name} = {PACKAGE}.cli.{name}:main" for name in COMMANDS),
        ],
    },
)
