"""ADE20K semantic segmentation with the incubated ViT in mmseg: configs, and one data set.

mmseg already has everything a plain ViT needs on top of the backbone: ``MultiLevelNeck``
(stride-16 maps resampled to strides 4-32), ``UPerHead``, ``FCNHead``, ``SegTTAModel`` for the
multi-scale + flip test. The two pieces it lacks are shared with detection and live elsewhere:

* ``backbones.IncubationViTBackbone`` (mmengine root ``MODELS``, found by mmseg's child
  registry): the ViT with timm names, loading our exported / assembled checkpoints;
* ``runtime.LayerDecayOptimWrapperConstructor``: mmseg's ``LayerDecayOptimizerConstructor``
  reads BEiT names (``backbone.layers.N``), not ours (``backbone.vit.blocks.N``).

Importing this package registers one data set, :class:`FashionScenesDataset` (mmseg
``DATASETS``: the Fashion-MNIST scenes of ``benchmarks/fashion_scenes.py`` in the ADE20K layout,
with background as a class), one metric, :class:`ForegroundIoUMetric` (mmseg ``METRICS``: mIoU
plus foreground IoU, the background-only floor and per-class IoU), and patches nothing; the configs' ``custom_imports`` name
``runtime.openmmlab`` (hooks, layer decay, mmengine compat), ``backbones`` and this package.
Configs: ``segmentation/configs`` (see docs/segmentation.md).
"""
import os.path as osp

from .datasets import FASHION_SCENES_CLASSES, FashionScenesDataset
from .metrics import ForegroundIoUMetric

CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')

__all__ = ['CONFIG_DIR', 'FASHION_SCENES_CLASSES', 'FashionScenesDataset', 'ForegroundIoUMetric']
