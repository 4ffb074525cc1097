"""Training YOLOX on synthetic traffic scenes or a dataset in their layout (imports torch).

One idea per module: ``augment`` (mosaic, affine, mixup, HSV, flip), ``dataset``
(reading and batching), ``simota`` (label assignment), ``box_ops`` (IoU),
``loss``, ``schedule`` (learning rate), ``ema``, ``evaluate`` (mAP),
``trainer`` (the loop). The command line is ``python -m yolox_ros train``.
"""
