"""Where a downstream run's backbone came from: the upstream run, the checkpoint's hash, the load report.

A detection or segmentation run that starts from a pretrained backbone records, in
``WORK/backbone.json`` (:data:`BACKBONE_RECORD`) and in its log:

* the checkpoint file, its sha256 and size (:func:`runtime.record.fingerprint`);
* the upstream run it is the final model of, when the file sits where this project's runs put it:
  ``UPSTREAM/finetune/model.pth`` of an incubation pipeline (``UPSTREAM/manifest.json``) or
  ``UPSTREAM/model.pth`` of a training run (E2E): its work dir, method, seed and phase;
* the load report of :func:`backbones.load_pretrained`: tensors loaded, resampled (the position
  embedding to the new grid) and dropped (a classifier head).

A run from random weights records ``init: random``. :func:`provenance_mismatch` tells whether a
recorded checkpoint still holds; the downstream suite re-runs (or refuses) a run whose backbone
file has changed since.

Torch-free apart from reading an upstream config dump, which imports mmengine's ``Config``.
"""
from __future__ import annotations

import glob
import os.path as osp
from typing import Any, Dict, Mapping, Optional

from . import record

BACKBONE_RECORD = 'backbone.json'
FORMAT = 1


def _config_seed(path: str) -> Optional[int]:
    """``randomness.seed`` of a dumped config, without running its custom imports."""
    try:
        from mmengine.config import Config
        cfg = Config.fromfile(path, import_custom_modules=False)
    except Exception:  # noqa: BLE001 - provenance is best effort for foreign files
        return None
    seed = (cfg.get('randomness') or {}).get('seed')
    return None if seed is None else int(seed)


def _config_benchmark(path: str) -> Dict[str, Any]:
    try:
        from mmengine.config import Config
        return dict(Config.fromfile(path, import_custom_modules=False).get('benchmark') or {})
    except Exception:  # noqa: BLE001
        return {}


def upstream_of(checkpoint: str) -> Dict[str, Any]:
    """The run whose final model ``checkpoint`` is, as far as the files around it say; ``{}`` if none.

    Returns ``dict(work_dir, method, seed, phase, model, task)`` (None where unknown).
    """
    path = osp.abspath(checkpoint)
    folder = osp.dirname(path)
    parent = osp.dirname(folder)
    if osp.basename(folder) == record.FINETUNE and osp.isfile(osp.join(parent, record.MANIFEST)):
        try:
            manifest = record.read_manifest(parent)
            benchmark = dict(manifest.benchmark or {})
        except record.RecordError:
            benchmark = {}
        dumped = osp.join(folder, f'{record.FINETUNE}_config.py')
        seed = _config_seed(dumped) if osp.isfile(dumped) else None
        return dict(work_dir=parent, method=benchmark.get('method', 'incubation'), seed=seed, phase=record.FINETUNE,
                    model=benchmark.get('model'), task=benchmark.get('task'))
    dumps = sorted(glob.glob(osp.join(folder, '*.py')))
    if osp.isfile(osp.join(folder, 'cost.json')) and dumps:
        benchmark = _config_benchmark(dumps[0])
        return dict(work_dir=folder, method=benchmark.get('method'), seed=_config_seed(dumps[0]),
                    phase=benchmark.get('phase') or 'train', model=benchmark.get('model'), task=benchmark.get('task'))
    return {}


def backbone_record(checkpoint: Optional[str], load_report: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """What ``backbone.json`` holds for a run that starts from ``checkpoint`` (None: random weights)."""
    if not checkpoint:
        return dict(format=FORMAT, init='random', checkpoint=None)
    report = dict(load_report or {})
    report.pop('skipped', None)
    report.pop('checkpoint', None)
    return dict(format=FORMAT, init='pretrained', checkpoint=osp.abspath(checkpoint),
                file=record.fingerprint(checkpoint), upstream=upstream_of(checkpoint), load=report)


def read_backbone_record(work_dir: str) -> Optional[Dict[str, Any]]:
    """A run's ``backbone.json``, or None when it has none."""
    return record.read_json_object(osp.join(work_dir, BACKBONE_RECORD))


def provenance_mismatch(work_dir: str, checkpoint: Optional[str]) -> Optional[str]:
    """Why the backbone that ``work_dir``'s run recorded is not ``checkpoint`` as it is now, or None.

    A run with no record, a record of random weights where a file is expected (or the reverse),
    and a file whose size or sha256 differs from the recorded ones, all mismatch. The path does not
    count: the same bytes at another place (a copied or moved work dir) are the same backbone.
    """
    recorded = read_backbone_record(work_dir)
    where = osp.join(work_dir, BACKBONE_RECORD)
    if recorded is None:
        return f'{where}: missing (the run did not record its backbone)'
    if not checkpoint:
        return None if recorded.get('init') == 'random' else f'{where}: the run started from a checkpoint, not random weights'
    if recorded.get('init') != 'pretrained':
        return f'{where}: the run started from random weights, not {checkpoint}'
    if not osp.isfile(checkpoint):
        return f'{checkpoint}: gone since {work_dir} started from it'
    # by content, not by path: a copied or moved work dir holds the same files under new names
    then, now = recorded.get('file') or {}, record.fingerprint(checkpoint)
    if (then.get('size'), then.get('sha256')) != (now['size'], now['sha256']):
        moved = '' if osp.abspath(checkpoint) == recorded.get('checkpoint') else f' (it recorded {recorded.get("checkpoint")})'
        return (f'{checkpoint}: changed since {work_dir} started from it{moved}: sha256 {str(then.get("sha256"))[:12]}, '
                f'now {now["sha256"][:12]}')
    return None
