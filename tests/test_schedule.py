"""Schedules shorter than the warm-up: clipped with one log line in every config family, never a crash."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CLS_CONFIGS, TINY_DIGITS_OPTIONS, cfg_words, data_options, run_tool
from mmengine.config import Config

from runtime.schedule import ScheduleError, fit_schedule_to_epochs

WARMUP_CONFIGS = ['vit-digits-d16_e2e_60e_digits.py', 'deit-t-d32_incubate_100e_cifar100.py',
                  'vit-b_meta_300e_in1k.py']


def _schedule(cfg) -> list:
    return [(s['type'], s.get('begin', 0), s.get('end')) for s in cfg.param_scheduler]


def _config(name: str, max_epochs: int) -> Config:
    cfg = Config.fromfile(str(CLS_CONFIGS / name))
    cfg.merge_from_dict({'train_cfg.max_epochs': max_epochs})
    return cfg


@pytest.mark.parametrize('name', WARMUP_CONFIGS)
def test_schedule_that_fits_is_left_alone(name):
    cfg = _config(name, 400)
    before = _schedule(cfg)
    assert fit_schedule_to_epochs(cfg, logger=None) == []
    assert _schedule(cfg) == before


@pytest.mark.parametrize('name', WARMUP_CONFIGS)
def test_warmup_longer_than_the_run_is_clipped(name):
    cfg = _config(name, 2)
    messages = fit_schedule_to_epochs(cfg, logger=None)
    assert len(messages) == 1 and 'train_cfg.max_epochs=2' in messages[0]
    assert _schedule(cfg) == [('LinearLR', 0, 1), ('CosineAnnealingLR', 1, None)]


@pytest.mark.parametrize('name', WARMUP_CONFIGS)
def test_one_epoch_run_has_no_warmup(name):
    cfg = _config(name, 1)
    messages = fit_schedule_to_epochs(cfg, logger=None)
    assert 'LinearLR' in messages[0] and 'dropped' in messages[0]
    assert _schedule(cfg) == [('CosineAnnealingLR', 0, None)]


def test_cifar_warmup_clipped_to_leave_one_epoch_of_decay():
    cfg = _config('deit-t-d32_e2e_300e_cifar100.py', 10)   # warm-up 20 epochs
    fit_schedule_to_epochs(cfg, logger=None)
    assert _schedule(cfg) == [('LinearLR', 0, 9), ('CosineAnnealingLR', 9, None)]


def test_decay_ending_after_the_run_is_not_a_boundary():
    cfg = Config(dict(train_cfg=dict(max_epochs=5), param_scheduler=[
        dict(type='MultiStepLR', by_epoch=True, begin=0, end=12, milestones=[8, 11])]))
    assert fit_schedule_to_epochs(cfg, logger=None) == []
    assert cfg.param_scheduler[0]['end'] == 12


def test_iteration_schedules_follow_max_iters_and_epoch_ones_are_untouched():
    cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=4), param_scheduler=[
        dict(type='LinearLR', by_epoch=False, begin=0, end=1500),
        dict(type='PolyLR', by_epoch=False, begin=1500, end=4)]))
    messages = fit_schedule_to_epochs(cfg, logger=None)
    assert 'train_cfg.max_iters=4' in messages[0]
    assert _schedule(cfg) == [('LinearLR', 0, 3), ('PolyLR', 3, 4)]


@pytest.mark.parametrize('value', [0, -3, 2.5])
def test_impossible_length_is_refused_naming_the_value(value):
    cfg = _config('vit-digits-d16_e2e_60e_digits.py', 3)
    cfg.train_cfg.max_epochs = value
    with pytest.raises(ScheduleError, match=f'train_cfg.max_epochs={value}'):
        fit_schedule_to_epochs(cfg, logger=None)


def _lr_by_epoch(work: Path) -> list:
    scalars = sorted(work.glob('*/vis_data/scalars.json'))[-1]
    return [json.loads(line) for line in scalars.read_text().splitlines() if '"lr"' in line]


@pytest.mark.parametrize('epochs', [1, 2])
def test_digits_run_shorter_than_the_warmup_trains(tmp_path, digits_root, epochs):
    """The digits warm-up is 2 epochs; 1- and 2-epoch runs train and say what was clipped."""
    work = tmp_path / f'e{epochs}'
    options = {**TINY_DIGITS_OPTIONS, **data_options(digits_root), 'train_cfg.max_epochs': epochs}
    proc = run_tool('tools/train.py', str(CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py'), '--work-dir', str(work),
                    '--cfg-options', *cfg_words(options))
    out = proc.stdout + proc.stderr
    assert sum('schedule clipped to train_cfg.max_epochs' in line for line in out.splitlines()) == 1, out[-2000:]
    assert (work / f'epoch_{epochs}.pth').is_file()
    records = _lr_by_epoch(work)
    assert records and all(r['lr'] > 0 for r in records)
