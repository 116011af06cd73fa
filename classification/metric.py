"""Top-k accuracy for the classifier's predictions."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS


@METRICS.register_module()
class TopKAccuracy(BaseMetric):
    """Top-1 / top-5 accuracy in percent, reported as ``accuracy/top1`` and ``accuracy/top5``."""

    default_prefix = 'accuracy'

    def __init__(self, topk: Sequence[int] = (1, 5), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.topk = tuple(topk)

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, Any]]) -> None:
        for sample in data_samples:
            scores = sample['scores']
            k = min(max(self.topk), scores.numel())
            top = scores.topk(k).indices.cpu()
            self.results.append(dict(top=top, label=int(sample['gt_label'])))

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        labels = torch.tensor([r['label'] for r in results])
        tops = torch.stack([r['top'] for r in results])
        return {f'top{k}': 100.0 * (tops[:, :k] == labels[:, None]).any(dim=1).float().mean().item()
                for k in self.topk}
