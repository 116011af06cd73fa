"""The Fashion-MNIST scenes as an ADE20K-style mmseg data set (``benchmarks/fashion_scenes.py`` writes them)."""
from __future__ import annotations

from typing import Any

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

# 0 = background, then Fashion-MNIST's classes in their label order (benchmarks.fashion_scenes.FASHION_CLASSES)
FASHION_SCENES_CLASSES = ('background', 'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                          'Sneaker', 'Bag', 'Ankle boot')


@DATASETS.register_module()
class FashionScenesDataset(BaseSegDataset):
    """``images/{training,validation}/NNNNNN.png`` with ``annotations/.../NNNNNN.png`` label maps.

    Like mmseg's ``ADE20KDataset`` (one label PNG per image, the same folder layout) except that
    label 0 is a class, background, and not ignored: ``reduce_zero_label=False``, so the
    segmentor has to find the items' outlines, not only classify the pixels inside them.
    Label 255 (the visible slivers of items too occluded to annotate) is ignored.
    """

    METAINFO = dict(
        classes=FASHION_SCENES_CLASSES,
        palette=[[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                 [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]])

    def __init__(self, img_suffix: str = '.png', seg_map_suffix: str = '.png', reduce_zero_label: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, reduce_zero_label=reduce_zero_label,
                         **kwargs)
