"""Deterministic synthetic sign scenes with exact boxes, in two themes.

Everything is drawn procedurally (numpy + OpenCV only, no downloads, no PyTorch),
so the package can train, test and demo its models without any external data.
The same seed always gives the same pixels.

Themes (``theme=`` everywhere, ``--theme`` on the command line):

* ``street`` (default, 640x480): city road signs, the shipped model's classes ``CLASS_NAMES``.
* ``track`` (320x240): the six signs of the VIA / FPT Digital Race model-car track, seen by
  the car's low wide-angle camera, with its blur, glare, noise and JPEG artefacts.

Modules: ``draw`` (sub-pixel primitives), ``signs`` (sign sets, painting),
``compositing`` (warping signs into a scene, exact boxes), ``street`` and ``track``
(scene styles), ``camera`` (lighting and camera effects), ``scenes`` (``render_scene``,
``scene_rng``), ``drive`` (``render_drive``), ``writer`` (COCO detection files).
"""

from yolox_ros.synthetic.drive import render_drive
from yolox_ros.synthetic.scenes import render_scene, scene_rng
from yolox_ros.synthetic.signs import (
    CLASS_NAMES,
    STOP,
    THEMES,
    TRACK_CLASS_NAMES,
    class_names,
    render_sign,
    sign_shape,
)
from yolox_ros.synthetic.street import SIGN_SIZE_RANGE
from yolox_ros.synthetic.writer import write_dataset

__all__ = [
    "CLASS_NAMES",
    "SIGN_SIZE_RANGE",
    "STOP",
    "THEMES",
    "TRACK_CLASS_NAMES",
    "class_names",
    "render_drive",
    "render_scene",
    "render_sign",
    "scene_rng",
    "sign_shape",
    "write_dataset",
]
