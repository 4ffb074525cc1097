"""Training YOLOX on any dataset ``yolox_ros.datasets`` reads (imports torch).

One idea per module: ``recipes`` (the official settings per model size), ``config`` (the
recipe, ``config.yaml``), ``splits`` (the training and validation datasets), ``batches``
(augmented samples in loader workers), ``augment`` (mosaic, affine, mixup, HSV, flip),
``simota`` (label assignment), ``box_ops`` (IoU), ``loss``, ``optimizer`` (SGD and its weight
decay), ``schedule`` (learning rate), ``ema``, ``evaluate`` (predictions for the COCO
metrics), ``devices`` (the device, native bfloat16), ``checkpoints`` (``last.pt``,
``best.pt``, resume), ``time_budget`` (``--time-budget`` plans), ``distributed`` (torchrun /
DDP), ``allocator`` (host memory), ``kernels`` (compiled CPU kernels), ``progress`` (bars,
log lines, metrics, TensorBoard), ``report`` (curves and sample sheet), ``trainer`` (the loop).
The command line is ``python -m yolox_ros train``.
"""
