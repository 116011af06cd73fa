"""mmdet's ``CocoMetric`` that always reports, and says whether the detector found the objects at all.

Two gaps of ``CocoMetric`` hide a degenerate detector:

* with no detection above the score threshold in the whole set, it logs "The testing results of
  the whole dataset is empty." and returns no AP at all, so a run's record has no value where the
  truth is 0;
* AP cannot tell "found the objects but confused the classes" from "found nothing".

:class:`SceneCocoMetric` reports AP 0 in that first case (each AP key ``CocoMetric`` would have
written), and adds ``fgIoU``: the IoU of the union of the predicted masks (score at least
``fg_score_thr``) with the union of the ground-truth masks, summed over the images (classes
merged), from the same annotation file; a fraction, like ``CocoMetric``'s AP. A detector without
masks (``metric=['bbox']``, e.g. RetinaNet) gets the same measure on boxes: the union of its boxes
against the union of the ground-truth boxes.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.logging import MMLogger
from pycocotools import mask as mask_util

AP_SUFFIXES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')


def union_mask(rles: Sequence[dict], shape: Sequence[int]) -> np.ndarray:
    """The union of RLE masks as a boolean ``shape`` map (all False for none)."""
    if not rles:
        return np.zeros(tuple(shape), bool)
    return mask_util.decode(mask_util.merge(list(rles), intersect=False)).astype(bool)


def union_boxes(boxes: Sequence[Sequence[float]], shape: Sequence[int]) -> np.ndarray:
    """The union of ``(x1, y1, x2, y2)`` boxes as a boolean ``shape`` map (the pixels whose centres they cover)."""
    out = np.zeros(tuple(shape), bool)
    for x1, y1, x2, y2 in boxes:
        out[max(0, int(round(y1))):max(0, int(round(y2))), max(0, int(round(x1))):max(0, int(round(x2)))] = True
    return out


@METRICS.register_module()
class SceneCocoMetric(CocoMetric):
    """``CocoMetric`` with AP 0 instead of no AP, and the foreground IoU of the masks (module docstring).

    Args:
        fg_score_thr: detections at or above this score make up the predicted foreground.
        **kwargs: ``CocoMetric``'s (``ann_file`` is needed for ``fgIoU``).
    """

    def __init__(self, fg_score_thr: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fg_score_thr = fg_score_thr

    def compute_metrics(self, results: List) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        missing = [f'{metric}_{suffix}' for metric in self.metrics if metric in ('bbox', 'segm')
                   for suffix in AP_SUFFIXES if f'{metric}_{suffix}' not in metrics]
        if missing:
            MMLogger.get_current_instance().warning(
                f'no detection in the whole set: {", ".join(missing)} reported as 0')
            metrics.update({key: 0.0 for key in missing})
        if self._coco_api is not None:
            metrics['fgIoU'] = round(self.foreground_iou(results, boxes='segm' not in self.metrics), 4)
        return metrics

    def foreground_iou(self, results: List, boxes: bool = False) -> float:
        """Pixel IoU of predicted against annotated foreground over the whole set (classes merged);
        ``boxes``: of the boxes, for a detector without masks."""
        inter = union = 0
        for gt, pred in results:
            shape = (gt['height'], gt['width'])
            keep = np.asarray(pred.get('scores', []), dtype=float) >= self.fg_score_thr
            anns = self._coco_api.load_anns(self._coco_api.get_ann_ids(img_ids=[gt['img_id']]))
            if boxes:
                predicted = union_boxes([b for b, k in zip(pred.get('bboxes', []), keep) if k], shape)
                truth = union_boxes([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)], shape)
            else:
                predicted = union_mask([m for m, k in zip(pred.get('masks', []), keep) if k], shape)
                truth = np.zeros(shape, bool)
                for ann in anns:
                    truth |= self._coco_api.annToMask(ann).astype(bool)
            inter += int((predicted & truth).sum())
            union += int((predicted | truth).sum())
        return inter / union if union else float('nan')
