"""Ablations that cannot silently run the default: strict config keys and one-line config errors
from tools/train.py, tools/incubate.py, tools/test.py and ``python -m benchmarks``; tools/test.py
on the test data alone; exports timm builds by name; the report's words for a speed-up below 1.

Tools run in this process (``cli(argv)`` / ``main(argv)``: what their scripts call and exit
with), so each case costs a config read, not an interpreter start.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from conftest import CLS_CONFIGS, ROOT, TINY_DIGITS_OPTIONS, cfg_words, load_tool

import classification  # noqa: F401  (registers the classifier)
import runtime.openmmlab  # noqa: F401
from backbones import build_model, export_timm, load_checkpoint, module_checkpoint, network_checkpoint, save_checkpoint
from backbones.checkpoints import CheckpointError
from runtime.checkpoint import CheckpointReadError, load_weights_only
from runtime.cli import UserError

META = str(CLS_CONFIGS / 'vit-digits-d16_meta_60e_digits.py')
E2E = str(CLS_CONFIGS / 'vit-digits-d16_e2e_60e_digits.py')
FINETUNE = str(CLS_CONFIGS / 'vit-digits-d16_finetune_15e_digits.py')
PIPELINE = str(CLS_CONFIGS / 'vit-digits-d16_incubation_30e+15e_digits.py')
DETECTION = str(ROOT / 'detection' / 'configs' / 'mask-rcnn_vit-tiny_incubation_test_coco-synthetic.py')
TINY_ARCH = dict(img_size=16, patch_size=4)  # what TINY_DIGITS_OPTIONS make of vit_tiny_test

pytestmark = pytest.mark.usefixtures('one_thread')


def one_error_line(capsys, code: int) -> str:
    """The single ``error:`` line an expected error prints (exit status 2, no traceback)."""
    err = capsys.readouterr().err
    assert code == 2, err[-3000:]
    assert 'Traceback' not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith('error: ')]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def write_pipeline(path: Path, **sections) -> str:
    """A pipeline config over the digits phase configs (absolute paths), with ``sections`` replaced."""
    entries = dict(meta=dict(config=str(CLS_CONFIGS / 'vit-digits-d16_meta_60e_digits.py')),
                   incubate=dict(config=str(CLS_CONFIGS / 'vit-digits-d16_incubate_30e_digits.py')),
                   finetune=dict(config=FINETUNE))
    entries.update(sections)
    path.write_text(f'pipeline = {entries!r}\nbenchmark = dict(task="digits", model="ViT-D16-W64", method="incubation")\n')
    return str(path)


# --- strict keys: every project-defined dict, through tools/train.py and tools/incubate.py -------

# (what is wrong, its --cfg-options word, the line must name, and the closest known key it offers)
MISSPELT = {
    'role': ('model.role.meta_dept=2', 'model.role.meta_dept', 'model.role.meta_depth'),
    'role type': ('model.role.type=metaa', "model.role.type='metaa'", "'meta'"),
    'arch_overrides': ('model.arch_overrides.drop_path_rat=0.1', 'model.arch_overrides.drop_path_rat',
                       'model.arch_overrides.drop_path_rate'),
    'model argument': ('model.drop_path_rat=0.1', 'model.drop_path_rat', 'model.arch_overrides.drop_path_rate'),
    'benchmark label': ('benchmark.methd=e2e', 'benchmark.methd', 'benchmark.method'),
}


@pytest.mark.parametrize('case', list(MISSPELT), ids=lambda c: c.replace(' ', '-'))
def test_a_misspelt_key_is_one_line_from_train_and_incubate(case, capsys, tmp_path):
    word, named, offered = MISSPELT[case]
    train, incubate = load_tool('train'), load_tool('incubate')
    line = one_error_line(capsys, train.cli([META, '--work-dir', str(tmp_path / 'train'), '--cfg-options', word]))
    assert named in line and f'did you mean {offered}' in line, line
    line = one_error_line(capsys, incubate.main([PIPELINE, '--work-dir', str(tmp_path / 'incubate'),
                                                 '--cfg-options', word]))
    assert named in line and f'did you mean {offered}' in line, line
    # refused before anything was built or started: no work dir, no phase
    assert not (tmp_path / 'train').exists() and not (tmp_path / 'incubate').exists()


def test_an_architecture_dict_is_checked_too(capsys, tmp_path):
    """``model.arch`` given as a dict (another depth, another width) is checked like its overrides."""
    config = tmp_path / 'wide_e2e.py'
    config.write_text(f'_base_ = [{E2E!r}]\n'
                      'model = dict(arch=dict(_delete_=True, depths=(1, 1, 1, 1), embed_dims=32, num_heads=2))\n')
    line = one_error_line(capsys, load_tool('train').cli([str(config), '--work-dir', str(tmp_path / 'w')]))
    assert 'model.arch.embed_dims' in line and 'did you mean model.arch.embed_dim' in line, line
    arch = dict(_delete_=True, depths=(1, 1, 1, 1), embed_dims=32, num_heads=2)
    pipeline = write_pipeline(tmp_path / 'pipeline.py', common_cfg_options={'model.arch': arch})
    line = one_error_line(capsys, load_tool('incubate').main([pipeline, '--work-dir', str(tmp_path / 'i')]))
    assert 'model.arch.embed_dims' in line and 'did you mean model.arch.embed_dim' in line, line


def test_the_pipeline_dict_is_checked(capsys, tmp_path):
    incubate, train = load_tool('incubate'), load_tool('train')
    misspelt = write_pipeline(tmp_path / 'p1.py', incubat=dict(config='x.py'))
    line = one_error_line(capsys, incubate.main([misspelt, '--work-dir', str(tmp_path / 'w')]))
    assert 'pipeline.incubat' in line and 'did you mean pipeline.incubate' in line and 'p1.py' in line, line
    section = write_pipeline(tmp_path / 'p2.py', finetune=dict(config=FINETUNE, cfg_option={'x': 1}))
    line = one_error_line(capsys, incubate.main([section, '--work-dir', str(tmp_path / 'w')]))
    assert 'pipeline.finetune.cfg_option' in line and 'did you mean pipeline.finetune.cfg_options' in line, line
    # a pipeline config is not a training config: tools/train.py says which tool runs it
    line = one_error_line(capsys, train.cli([PIPELINE, '--work-dir', str(tmp_path / 't')]))
    assert PIPELINE in line and 'tools/incubate.py' in line, line
    assert not (tmp_path / 'w').exists() and not (tmp_path / 't').exists()


def test_backbone_arguments_are_checked(capsys, tmp_path):
    """The dense backbone's arguments (its own and the ViT's), before the detector is built."""
    train = load_tool('train')
    line = one_error_line(capsys, train.cli([DETECTION, '--work-dir', str(tmp_path / 'w'),
                                             '--cfg-options', 'model.backbone.out_indice=[1]']))
    assert 'model.backbone.out_indice' in line and 'did you mean model.backbone.out_indices' in line, line
    line = one_error_line(capsys, train.cli([DETECTION, '--work-dir', str(tmp_path / 'w'),
                                             '--cfg-options', 'model.backbone.qkv_bais=False']))
    assert 'did you mean model.backbone.qkv_bias' in line, line
    assert not (tmp_path / 'w').exists()


def test_a_key_a_constructor_rejects_is_one_line(capsys, digits_root, tmp_path):
    """mmengine's loop and torch's optimizer reject the keyword: one line naming the config key,
    with the closest argument the constructor takes; --debug keeps the traceback."""
    train = load_tool('train')
    words = cfg_words({**TINY_DIGITS_OPTIONS, **{f'{k}.dataset.data_root': str(digits_root)
                                                 for k in ('train_dataloader', 'val_dataloader')}})
    line = one_error_line(capsys, train.cli([E2E, '--work-dir', str(tmp_path / 'w'),
                                             '--cfg-options', *words, 'train_cfg.max_epoch=1']))
    assert "train_cfg.max_epoch: EpochBasedTrainLoop takes no argument 'max_epoch'" in line, line
    assert 'did you mean train_cfg.max_epochs' in line, line
    assert not list((tmp_path / 'w').glob('*.pth'))  # nothing trained
    with pytest.raises(UserError, match='train_cfg.max_epoch') as debug:  # --debug: raised, with its cause
        train.cli([E2E, '--work-dir', str(tmp_path / 'w'), '--debug', '--cfg-options', *words, 'train_cfg.max_epoch=1'])
    assert isinstance(debug.value.__cause__, TypeError)


def test_the_help_example_works(tmp_path):
    """The --cfg-options examples of tools/train.py --help, each on a config of its kind."""
    from mmengine.registry import MODELS

    train = load_tool('train')
    text = ' '.join(train.build_parser().format_help().split())
    examples = dict((kind, option) for option, kind in re.findall(r'(\S+=\S+) \(([^)]+)\)', text))
    assert set(examples) == {'classification', 'detection, segmentation'}, text
    cfg = train.build_config(train.parse_args([E2E, '--work-dir', str(tmp_path), '--cfg-options',
                                               examples['classification']]))
    model = MODELS.build(cfg.model)
    assert model.network.blocks[-1].drop_path1.drop_prob == pytest.approx(0.2)
    cfg = train.build_config(train.parse_args([DETECTION, '--work-dir', str(tmp_path), '--cfg-options',
                                               examples['detection, segmentation']]))
    assert cfg.model.backbone.drop_path_rate == 0.2


def test_benchmarks_speed_refuses_an_unknown_arch_in_one_line(capsys):
    from benchmarks.__main__ import main
    line = one_error_line(capsys, main(['speed', '--arch', 'vit_bse_patch16_224']))
    assert "'vit_bse_patch16_224'" in line and "did you mean 'vit_base_patch16_224'" in line, line


# --- tools/test.py: the test data only; which weights; checkpoints that are not ---------------------


def test_tools_test_needs_only_the_test_data_and_names_the_weights(capsys, digits_root, tmp_path):
    test = load_tool('test')
    torch.manual_seed(0)
    model = build_model('vit_tiny_test', **TINY_ARCH)
    checkpoint = save_checkpoint(network_checkpoint(model), tmp_path / 'model.pth')
    modules = [str(save_checkpoint(module_checkpoint(model, i, model.arch_config()), tmp_path / f'module_{i}.pth'))
               for i in range(4)]
    nowhere = str(tmp_path / 'no-training-data')
    options = {**TINY_DIGITS_OPTIONS, 'train_dataloader.dataset.data_root': nowhere,
               'val_dataloader.dataset.data_root': nowhere, 'test_dataloader.dataset.data_root': str(digits_root)}

    # a source config with a file: the file and its sha256 are named first; the metrics are written
    metrics = tmp_path / 'file.json'
    assert test.cli([E2E, str(checkpoint), '--work-dir', str(tmp_path / 't1'), '--metrics-json', str(metrics),
                     '--cfg-options', *cfg_words(options)]) == 0
    sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f'[test] evaluating the weights of {checkpoint} (sha256 {sha}...)', first
    from_file = json.loads(metrics.read_text())
    assert 0.0 <= from_file['accuracy/top1'] <= 100.0

    # the fine-tune config without a file: the network assembled from its modules, said so
    metrics = tmp_path / 'assembled.json'
    assert test.cli([FINETUNE, '--work-dir', str(tmp_path / 't2'), '--metrics-json', str(metrics), '--cfg-options',
                     *cfg_words({**options, 'model.role.module_checkpoints': modules})]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith('[test] evaluating the network assembled from the 4 module checkpoints of '
                            'model.role.module_checkpoints') and 'not fine-tuned (no CHECKPOINT given)' in first, first
    # the same network as the file (the modules are its parts): the same accuracy
    assert json.loads(metrics.read_text()) == from_file
    with pytest.raises(SystemExit):  # --help explains that case
        test.parse_args(['--help'])
    assert 'assembled from model.role.module_checkpoints' in ' '.join(capsys.readouterr().out.split())

    # a JSON file given as the checkpoint: refused as not a checkpoint, without unpickling advice
    line = one_error_line(capsys, test.cli([E2E, str(metrics), '--work-dir', str(tmp_path / 't3'),
                                            '--cfg-options', *cfg_words(options)]))
    assert f'{metrics}: not a checkpoint (a JSON file' in line and 'weights_only' not in line, line


def test_a_text_file_is_not_a_checkpoint_for_any_reader(tmp_path):
    notes = tmp_path / 'notes.pth'
    notes.write_text('epoch 3: 81.2\n')
    for read, error in ((load_checkpoint, CheckpointError), (load_weights_only, CheckpointReadError)):
        with pytest.raises(error, match=r'notes\.pth: not a checkpoint \(a text file') as caught:
            read(str(notes))
        assert 'weights_only=False' not in str(caught.value)


# --- exports that timm builds by name -------------------------------------------------------------


def test_the_timm_folder_builds_and_loads_a_deep_narrow_preset_by_name(tmp_path):
    """``timm.create_model('local-dir:...', pretrained=True)`` of a preset timm has no name for
    (32 blocks of width 64, patch 4, 16 px): the right shape and the project's logits."""
    import timm

    torch.manual_seed(0)
    ours = build_model('vit_fashion_depth32').eval()
    written = export_timm(network_checkpoint(ours), tmp_path / 'model.pth')
    assert written['timm'] == tmp_path / 'timm' and {p.name for p in written['timm'].iterdir()} == {
        'config.json', 'model.safetensors'}
    theirs = timm.create_model(f'local-dir:{written["timm"]}', pretrained=True).eval()
    assert len(theirs.blocks) == sum(ours.division.depths) and theirs.embed_dim == ours.embed_dim
    x = torch.randn(2, 3, *ours.patch_embed.img_size)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=0)


# --- the report's words ----------------------------------------------------------------------------


def test_a_speed_up_below_one_is_written_as_the_extra_cost():
    from benchmarks.analysis import speedup
    e2e = [(1.0, 70.0), (2.0, 80.0)]
    slower = speedup(e2e, [(1.0, 60.0), (2.1, 80.0)])  # incubation needs 1.05x E2E's cost
    assert slower.factor == pytest.approx(2.0 / 2.1)
    assert slower.text() == '1.05x more training' and slower.phrase() == '1.05x more training'
    faster = speedup(e2e, [(0.5, 80.0)])
    assert faster.text() == '4.00x' and faster.phrase() == '4.00x less training'
