"""COCO detection with the incubated ViT in mmdet: only what mmdet lacks for a plain ViT.

* :class:`SimpleFeaturePyramid` (mmdet ``MODELS``): strides 4-64 from the ViT's last map.
* ``LN2d`` (:class:`LayerNorm2d`, mmengine root ``MODELS``): LayerNorm over channels for the
  neck's and heads' convs.
* :class:`SceneCocoMetric` (mmdet ``METRICS``): ``CocoMetric`` that reports AP 0 rather than
  nothing when nothing is detected, plus the masks' foreground IoU.

The backbone (``backbones.IncubationViTBackbone``) and the layer-decay optimiser constructor
(``runtime.LayerDecayOptimWrapperConstructor``) are shared with segmentation and live in
those packages; configs import all three through ``custom_imports``.
"""
from .metrics import SceneCocoMetric
from .necks import LayerNorm2d, SimpleFeaturePyramid

__all__ = ['LayerNorm2d', 'SceneCocoMetric', 'SimpleFeaturePyramid']
