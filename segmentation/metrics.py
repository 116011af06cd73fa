"""mmseg's ``IoUMetric`` with what tells a degenerate segmentor from one that learnt something.

A segmentor that labels every pixel background scores ``IoU(background) / classes present`` in
mIoU (7.52 on the Fashion-MNIST scenes), which reads like a number. :class:`ForegroundIoUMetric`
adds, from the same per-class pixel counts mmseg already sums (no second pass):

* ``fgIoU``: foreground IoU, every class but the background merged into one (did it find the
  items, whatever it called them?);
* ``bg_only_mIoU``: the mIoU of labelling every pixel background on the same pixels (the floor
  of a degenerate run);
* ``IoU.<class>``: each class's IoU, also in the log's table.

All in percent, like mmseg's own.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS


def foreground_iou(intersect: np.ndarray, pred: np.ndarray, label: np.ndarray, background: int = 0) -> float:
    """IoU of 'any class but ``background``' from per-class pixel counts of (intersection, prediction, label).

    A pixel is foreground in both maps unless it is background in either: ``T - pred_bg - label_bg +
    both_bg`` of ``T`` counted pixels; the union is every pixel but those background in both.
    """
    total = float(label.sum())
    inter = total - pred[background] - label[background] + intersect[background]
    union = total - intersect[background]
    return float(inter / union) if union > 0 else float('nan')


def background_only_miou(label: np.ndarray, background: int = 0) -> float:
    """mIoU (mmseg's: classes absent from the labels are not averaged) of a map that is all background."""
    present = label > 0
    if not present.any():
        return float('nan')
    return float(label[background] / label.sum() / present.sum())


@METRICS.register_module()
class ForegroundIoUMetric(IoUMetric):
    """``IoUMetric`` plus ``fgIoU``, ``bg_only_mIoU`` and per-class ``IoU.<class>`` (module docstring).

    Args:
        background: the background's label (0 in the scenes and ADE20K-style sets with
            ``reduce_zero_label=False``).
        **kwargs: ``IoUMetric``'s.
    """

    def __init__(self, background: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.background = background

    def compute_metrics(self, results: List[Sequence]) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only or not results:
            return metrics
        intersect, union, pred, label = (sum(r[i] for r in results).numpy().astype(np.float64) for i in range(4))
        metrics['fgIoU'] = round(foreground_iou(intersect, pred, label, self.background) * 100, 2)
        metrics['bg_only_mIoU'] = round(background_only_miou(label, self.background) * 100, 2)
        with np.errstate(invalid='ignore', divide='ignore'):
            per_class = intersect / union
        for name, iou in zip(self.dataset_meta['classes'], per_class):
            if not np.isnan(iou):
                metrics[f'IoU.{name}'] = round(float(iou) * 100, 2)
        return metrics
