"""Training YOLOX on any dataset ``yolox_ros.datasets`` reads (imports torch).

One idea per module: ``config`` (the recipe, ``config.yaml``), ``batches``
(augmented samples in loader workers), ``augment`` (mosaic, affine, mixup, HSV,
flip), ``simota`` (label assignment), ``box_ops`` (IoU), ``loss``, ``schedule``
(learning rate), ``ema``, ``evaluate`` (predictions for the COCO metrics),
``distributed`` (torchrun / DDP), ``kernels`` (compiled CPU kernels), ``progress``
(bars, log lines, metrics, TensorBoard), ``report`` (curves and sample sheet),
``trainer`` (the loop).
The command line is ``python -m yolox_ros train``.
"""
