"""The tasks the reports know: one registration each, one vocabulary.

A task is what a config's ``benchmark.task`` says (``'imagenet'``, ``'coco'``,
``'fashion-scenes-seg'``, ...). Its :class:`Task` entry gives everything the tables, plots,
records and the downstream suite need: its kind (``'cls'`` for an upstream classification task,
``'det'`` or ``'seg'`` for a downstream one, which is also the suite's word for it), its title,
its metrics with their column labels (the primary one first), and what the runs' ``variant``
means for it. A new downstream task is its configs plus one :func:`register` call here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

KINDS = ('cls', 'det', 'seg')
CLASSIFICATION_METRICS = (('accuracy/top1', 'top-1'), ('accuracy/top5', 'top-5'))
COCO_METRICS = (('coco/bbox_mAP', 'APb'), ('coco/bbox_mAP_50', 'APb50'), ('coco/bbox_mAP_75', 'APb75'),
                ('coco/segm_mAP', 'APm'), ('coco/segm_mAP_50', 'APm50'), ('coco/segm_mAP_75', 'APm75'))
DEFAULT_METRIC = 'accuracy/top1'


@dataclass(frozen=True)
class Task:
    """One task of the reports.

    Args:
        name: the configs' ``benchmark.task``.
        kind: 'cls' (upstream classification), 'det' or 'seg' (downstream, from a backbone).
        title: how tables and plots name it.
        metrics: (metric key, column label) in the paper's column order.
        primary: the metric curves, deltas and verdicts use (default: the first of ``metrics``).
        variant_label: the column name of the runs' ``variant`` (a schedule for downstream tasks).
        notes: what the task's table says under it.
    """

    name: str
    kind: str
    title: str
    metrics: Tuple[Tuple[str, str], ...]
    primary: str = ''
    variant_label: str = 'variant'
    notes: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f'task {self.name}: kind {self.kind!r} is not one of {KINDS}')
        if not self.primary:
            object.__setattr__(self, 'primary', self.metrics[0][0])

    @property
    def downstream(self) -> bool:
        return self.kind != 'cls'

    def label(self, metric: str) -> str:
        """A metric's column label (the key itself when the task does not name it)."""
        return dict(self.metrics).get(metric, metric)


TASKS: Dict[str, Task] = {}


def register(task: Task) -> Task:
    if task.name in TASKS:
        raise ValueError(f'task {task.name} is registered twice')
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task, or a plain classification-like one for a name nobody registered
    (a user's own task still gets a table, titled by its name)."""
    return TASKS.get(name) or Task(name, 'cls', name, CLASSIFICATION_METRICS)


def primary_metric(name: str) -> str:
    return get_task(name).primary


def task_names(kind: str) -> Tuple[str, ...]:
    """The registered tasks of one kind ('downstream': 'det' and 'seg'), in registration order."""
    kinds = ('det', 'seg') if kind == 'downstream' else (kind,)
    return tuple(name for name, task in TASKS.items() if task.kind in kinds)


for _name, _title in (('imagenet', 'ImageNet-1K'), ('cifar100', 'CIFAR-100'), ('digits', 'digits (scikit-learn)'),
                      ('fashion', 'Fashion-MNIST')):
    register(Task(_name, 'cls', _title, CLASSIFICATION_METRICS))
register(Task('coco', 'det', 'COCO 2017 (Mask R-CNN)', COCO_METRICS, variant_label='schedule',
              notes=('COCO AP from mmdet CocoMetric, shown x100 like the paper.',)))
register(Task('ade20k', 'seg', 'ADE20K (UperNet)', (('mAcc', 'mAcc'), ('mIoU', 'mIoU'), ('mIoU-ms', 'mIoU-ms')),
              primary='mIoU', variant_label='schedule', notes=('mIoU-ms: multi-scale + flip test (tools/test.py --tta).',)))
# the scenes are reported as COCO and ADE20K are (the same mmdet / mmseg metrics), without the paper's numbers
register(Task('fashion-scenes-det', 'det', 'Fashion-MNIST scenes (Mask R-CNN)', COCO_METRICS, variant_label='schedule'))
register(Task('fashion-scenes-seg', 'seg', 'Fashion-MNIST scenes (UperNet)', (('mAcc', 'mAcc'), ('mIoU', 'mIoU')),
              primary='mIoU', variant_label='schedule'))
