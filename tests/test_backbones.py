"""The incubation ViT: parity with timm, incubation semantics, assembly, formats, registries, bad input."""
from __future__ import annotations

import pytest
import timm
import torch
from conftest import load_tool

from backbones import (
    Checkpoint,
    CheckpointError,
    Division,
    DivisionError,
    assemble_model,
    build_hybrid_model,
    build_meta_model,
    build_model,
    convert_official,
    export_timm,
    load_checkpoint,
    module_checkpoint,
    network_checkpoint,
    save_checkpoint,
    timm_model_args,
)

TINY = 'vit_tiny_test'  # depths (2, 2, 2, 2), width 32, 2 heads, patch 8, 32x32 input, 10 classes


def _images(n: int = 2, size: int = 32) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(0))


def _timm_twin(model) -> torch.nn.Module:
    twin = timm.create_model(**timm_model_args(model.arch_config())).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    return twin


@pytest.mark.parametrize('arch,size', [(TINY, 32), ('vit_base_patch16_224', 224)])
def test_target_matches_timm_vit(arch, size):
    model = build_model(arch).eval()
    x = _images(1, size)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _timm_twin(model)(x), atol=1e-5, rtol=0)


def test_incubation_vit_is_timms_vision_transformer():
    from timm.models.vision_transformer import VisionTransformer

    import backbones

    assert issubclass(backbones.IncubationViT, VisionTransformer)
    model = build_model(TINY, depths=(1, 3, 2, 2))
    assert len(model.blocks) == model.division.depth == 8
    assert [f['module'] for f in model.feature_info] == [f'blocks.{i}' for i in range(8)]
    assert {f['reduction'] for f in model.feature_info} == {model.patch_size} == {8}
    assert model.group_matcher() == _timm_twin(model).group_matcher()
    with pytest.raises(TypeError, match='per-module `depths`, not `depth`'):
        backbones.IncubationViT(depths=(1, 1), depth=2)


def test_forward_intermediates_are_timms():
    model = build_model(TINY).eval()
    twin = _timm_twin(model)
    x = _images()
    with torch.no_grad():
        final, maps = model.forward_intermediates(x, indices=[1, 4, 7])
        twin_final, twin_maps = twin.forward_intermediates(x, indices=[1, 4, 7])
        tokens = model.forward_intermediates(x, indices=2, output_fmt='NLC', intermediates_only=True)
        twin_tokens = twin.forward_intermediates(x, indices=2, output_fmt='NLC', intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(2, 32, 4, 4)] * 3
    torch.testing.assert_close(final, twin_final, atol=1e-5, rtol=0)
    assert len(tokens) == len(twin_tokens) == 2
    for ours, theirs in zip(maps + tokens, twin_maps + twin_tokens):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_exported_checkpoints_load_into_timm_create_model(tmp_path):
    model = build_model(TINY).eval()
    written = export_timm(network_checkpoint(model), tmp_path / 'model.pth')
    x = _images()
    with torch.no_grad():
        expected = model(x)
        for fmt in ('pth', 'safetensors'):
            twin = timm.create_model(**timm_model_args(model.arch_config()), checkpoint_path=str(written[fmt])).eval()
            torch.testing.assert_close(twin(x), expected, atol=1e-5, rtol=0)
        # and by name, from the timm local folder beside them (timm's save_for_hf)
        twin = timm.create_model(f'local-dir:{written["timm"]}', pretrained=True).eval()
        torch.testing.assert_close(twin(x), expected, atol=1e-5, rtol=0)


def test_division_split_merge_and_ownership():
    division = Division((1, 2, 3, 2))  # uneven splits are allowed
    assert division.depth == 8 and division.block_range(2) == range(3, 6)
    assert division.last_blocks() == (0, 2, 5, 7)
    model = build_model(TINY, depths=(2, 3, 1, 2))
    state = model.state_dict()
    modules = model.division.split_state_dict(state)
    assert 'patch_embed.proj.weight' in modules[0] and 'head.weight' in modules[3]
    assert sorted({k.split('.')[1] for k in modules[1] if k.startswith('blocks.')}) == ['0', '1', '2']
    merged = model.division.merge_state_dicts(modules)
    assert merged.keys() == state.keys() and all(torch.equal(merged[k], state[k]) for k in state)
    with pytest.raises(DivisionError, match='module index 4 is out of range'):
        division.block_range(4)


@pytest.fixture
def meta_ckpt(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / 'meta.pth'
    save_checkpoint(network_checkpoint(build_meta_model(TINY), kind='meta'), path)
    return path


def _train_steps(model, steps: int = 3) -> None:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.05)
    meta_params = [p for p in model.parameters() if not p.requires_grad]
    for step in range(steps):
        x, y = _images(4), torch.arange(4) % 10
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert all(p.grad is None for p in meta_params), f'a meta parameter received a gradient at step {step}'


@pytest.mark.parametrize('module_idx', [0, 2, 3])
def test_hybrid_trains_only_its_module(meta_ckpt, module_idx):
    model = build_hybrid_model(TINY, module_idx, meta_ckpt).train()
    assert model.division.depths == tuple(2 if i == module_idx else 1 for i in range(4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    own = {n for n, _ in model.module_parameters(module_idx)}
    meta = load_checkpoint(meta_ckpt)
    meta_state = meta.division.split_state_dict(meta.state_dict)
    hybrid_state = model.division.split_state_dict(before)
    for idx in range(4):  # every other module holds exactly the meta weights
        if idx != module_idx:
            assert all(torch.equal(hybrid_state[idx][k], meta_state[idx][k]) for k in meta_state[idx])

    # Autograd records nothing for the frozen prefix before module_idx: block 0's output needs a
    # gradient only when block 0 is module_idx's.
    seen = {}

    def record(module, inputs, output):
        seen.setdefault('first', output.requires_grad)

    model.blocks[0].register_forward_hook(record)
    _train_steps(model)
    assert seen['first'] == (module_idx == 0)

    after = model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and changed <= own, f'parameters outside module {module_idx} changed: {changed - own}'
    frozen = [k for k in after if k not in own]
    assert all(torch.equal(after[k], before[k]) for k in frozen)  # bit-identical


def test_assembly_round_trip_from_module_checkpoints(meta_ckpt, tmp_path):
    target_arch = build_model(TINY).arch_config()
    trained = {}
    paths = []
    for idx in range(4):
        hybrid = build_hybrid_model(TINY, idx, meta_ckpt)
        _train_steps(hybrid, steps=1)
        ckpt = module_checkpoint(hybrid, idx, target_arch)
        trained[idx] = ckpt.state_dict
        paths.append(save_checkpoint(ckpt, tmp_path / f'module_{idx}.pth'))
    model = assemble_model(TINY, paths)
    pieces = model.division.split_state_dict(model.state_dict())
    for idx in range(4):
        assert pieces[idx].keys() == trained[idx].keys()
        assert all(torch.equal(pieces[idx][k], trained[idx][k]) for k in trained[idx])
    # embedding comes from the module-0 run, norm/head from the module-3 run
    assert torch.equal(model.pos_embed, trained[0]['pos_embed'])
    assert torch.equal(model.head.weight, trained[3]['head.weight'])


def _authors_checkpoint(model) -> dict:
    """A checkpoint laid out as the authors' releases are: ``model`` plus ``model_stages``."""
    return {'model': model.state_dict(), 'model_stages': model.division.split_state_dict(model.state_dict()),
            'optimizer': {}, 'lr_scheduler': {}, 'epoch': 99}


def test_convert_official_finished_model_gives_same_logits(tmp_path):
    convert_main = load_tool('convert_official').main
    arch = dict(depths=(1, 2, 1, 2), img_size=64, patch_size=16, embed_dim=192, num_heads=3, num_classes=10)
    model = build_model(arch).eval()
    src = tmp_path / 'official.pth'
    torch.save(_authors_checkpoint(model), src)
    assert convert_main([str(src), str(tmp_path / 'converted.pth')]) == 0
    converted = load_checkpoint(tmp_path / 'converted.safetensors')
    assert converted.arch['depths'] == [1, 2, 1, 2] and converted.arch['num_heads'] == 3
    twin = timm.create_model(**timm_model_args(converted.arch), checkpoint_path=str(tmp_path / 'converted.pth')).eval()
    x = _images(2, 64)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), atol=1e-5, rtol=0)


def test_convert_official_meta_and_module(tmp_path):
    meta = build_meta_model(TINY)
    ckpt = convert_official(_authors_checkpoint(meta), num_heads=2)
    assert ckpt.kind == 'meta' and ckpt.arch['depths'] == [1, 1, 1, 1]
    save_checkpoint(ckpt, tmp_path / 'meta.pth')
    hybrid = build_hybrid_model(TINY, 1, tmp_path / 'meta.pth')  # a converted meta model incubates
    module = convert_official(_authors_checkpoint(hybrid), num_heads=2)
    assert module.kind == 'module' and module.module_idx == 1 and module.arch['depths'] == [2, 2, 2, 2]


# --- OpenMMLab registries ---------------------------------------------------------------------------


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_backbone_builds_from_mmdet_and_mmseg_registries(scope):
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    backbone = MODELS.build(dict(type='IncubationViTBackbone', arch=TINY)).eval()
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 512, 640))
    assert [tuple(f.shape) for f in features] == [(2, 32, 64, 80)] * 4
    assert backbone.get_layer_id('vit.pos_embed') == 0 and backbone.get_layer_id('vit.blocks.3.mlp.fc1.weight') == 4


def test_vit_b_backbone_features_for_a_non_square_input():
    from mmengine.registry import MODELS
    backbone = MODELS.build(dict(type='IncubationViTBackbone', arch='vit_base_patch16_224',
                                 out_indices=(2, 5, 8, 11))).eval()
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 512, 640))
    assert [tuple(f.shape) for f in features] == [(2, 768, 32, 40)] * 4


def test_backbone_init_cfg_loads_exported_checkpoint(tmp_path):
    from mmengine.registry import MODELS
    source = build_model(TINY)
    export_timm(network_checkpoint(source), tmp_path / 'model.pth')
    backbone = MODELS.build(dict(type='IncubationViTBackbone', arch=TINY, img_size=64,
                                 init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'model.safetensors'))))
    backbone.init_weights()
    assert torch.equal(backbone.vit.blocks[5].attn.qkv.weight, source.blocks[5].attn.qkv.weight)
    assert backbone.vit.pos_embed.shape[1] == 1 + 8 * 8  # resampled from 4x4 to 8x8 patches


# --- ViTDet windows --------------------------------------------------------------------------------

# average pooling and no class token: the windowed path drops prefix tokens, so only then can the
# global path be the same network
NO_CLS = dict(depths=(1, 1, 1, 1), img_size=32, patch_size=4, embed_dim=32, num_heads=2, num_classes=10,
              class_token=False, global_pool='avg')


def _dense(tmp_path, **kwargs):
    from mmengine.registry import MODELS
    path = tmp_path / 'upstream.pth'
    if not path.exists():
        save_checkpoint(network_checkpoint(build_model(NO_CLS)), path)
    backbone = MODELS.build(dict(type='IncubationViTBackbone', arch=NO_CLS, drop_path_rate=0.0,
                                 init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kwargs))
    backbone.init_weights()
    return backbone.eval()


def test_windowed_backbone_with_one_window_equals_global_attention(tmp_path):
    plain = _dense(tmp_path)
    x = _images(2, 32)
    for mode in ('interpolate', 'tile'):
        windowed = _dense(tmp_path, window_size=8, global_blocks=(), pos_embed=mode)
        # the upstream checkpoint loads exactly: nothing added, nothing left at its initialisation
        assert windowed.load_report['initialised'] == [] and windowed.load_report['resampled'] == {}
        with torch.no_grad():
            for a, b in zip(plain(x), windowed(x)):
                torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    # a window larger than the grid (padded, the padding masked out) changes nothing either
    padded = _dense(tmp_path, window_size=11, global_blocks=())
    with torch.no_grad():
        torch.testing.assert_close(padded(x)[-1], plain(x)[-1], atol=1e-6, rtol=0)


def test_tiled_windows_see_each_window_as_a_pretraining_image(tmp_path):
    plain, tiled = _dense(tmp_path), _dense(tmp_path, window_size=8, global_blocks=(), pos_embed='tile')
    interpolated = _dense(tmp_path, window_size=8, global_blocks=(), pos_embed='interpolate')
    x = _images(1, 64)
    with torch.no_grad():
        out = tiled(x)[-1]
        # every 8x8-token window of a 64x64 input is the 32x32 network on that quarter of the image
        for (r, c) in ((0, 0), (0, 1), (1, 1)):
            quarter = plain(x[:, :, 32 * r:32 * (r + 1), 32 * c:32 * (c + 1)])[-1]
            torch.testing.assert_close(out[:, :, 8 * r:8 * (r + 1), 8 * c:8 * (c + 1)], quarter, atol=1e-5, rtol=0)
        assert not torch.allclose(interpolated(x)[-1], out)  # the other embedding is another network


def test_windowed_backbone_defaults_to_global_attention_at_module_ends(tmp_path):
    from mmengine.registry import MODELS
    backbone = MODELS.build(dict(type='IncubationViTBackbone', arch='vit_base_patch16_224', window_size=14))
    assert backbone.global_blocks == (2, 5, 8, 11)  # ViTDet's ViT-B blocks are the K = 4 module ends
    large = MODELS.build(dict(type='IncubationViTBackbone', arch='vit_large_patch16_224', window_size=14))
    assert large.global_blocks == (5, 11, 17, 23)
    with pytest.raises(ValueError, match='global_blocks'):
        MODELS.build(dict(type='IncubationViTBackbone', arch=TINY, window_size=2, global_blocks=(9,)))
    with pytest.raises(ValueError, match='pos_embed'):
        MODELS.build(dict(type='IncubationViTBackbone', arch=TINY, window_size=2, pos_embed='rope'))


def test_frozen_stages_freeze_the_embeddings_and_blocks_and_keep_them_in_eval_mode():
    """mmpretrain's convention: -1 trains all, 0 the embeddings frozen, n also the first n blocks;
    the frozen blocks stay in eval mode (no drop path) when the model is put in train mode, and the
    layer-decay optimiser gets no parameter of them."""
    from mmengine.registry import MODELS

    from runtime.optim import LayerDecayOptimWrapperConstructor

    backbone = MODELS.build(dict(type='IncubationViTBackbone', arch=TINY, frozen_stages=2, drop_path_rate=0.5))
    backbone.train()
    frozen = {n for n, p in backbone.named_parameters() if not p.requires_grad}
    assert {'vit.pos_embed', 'vit.cls_token', 'vit.patch_embed.proj.weight'} <= frozen
    assert all(n.startswith(('vit.blocks.0.', 'vit.blocks.1.')) for n in frozen
               if n.startswith('vit.blocks.')) and any(n.startswith('vit.blocks.1.') for n in frozen)
    assert not backbone.vit.blocks[1].training and backbone.vit.blocks[2].training
    model = torch.nn.Module()
    model.backbone = backbone
    model.head = torch.nn.Linear(4, 4)
    params = []
    LayerDecayOptimWrapperConstructor(dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3)),
                                      dict(layer_decay_rate=0.9)).add_params(params, model)
    names = {n for group in params for n in group['param_names']}
    assert not names & {f'backbone.{n}' for n in frozen} and 'head.weight' in names
    whole = MODELS.build(dict(type='IncubationViTBackbone', arch=TINY, frozen_stages=8, drop_path_rate=0.5))
    assert not any(p.requires_grad for n, p in whole.named_parameters() if n.startswith('vit.blocks.'))
    whole.train()
    x = torch.randn(2, 3, 32, 32)
    # in train mode a frozen backbone is deterministic (drop path off) and needs no graph
    a, b = whole(x), whole(x)
    assert all(torch.equal(u, v) and not u.requires_grad for u, v in zip(a, b))
    with pytest.raises(ValueError, match='frozen_stages'):
        MODELS.build(dict(type='IncubationViTBackbone', arch=TINY, frozen_stages=9))


# --- bad input ------------------------------------------------------------------------------------


@pytest.fixture
def module_paths(meta_ckpt, tmp_path):
    arch = build_model(TINY).arch_config()
    return [save_checkpoint(module_checkpoint(build_hybrid_model(TINY, i, meta_ckpt), i, arch),
                            tmp_path / f'module_{i}.pth') for i in range(4)]


def test_bad_module_checkpoints_are_named(module_paths, tmp_path):
    swapped = [module_paths[1], module_paths[0], *module_paths[2:]]
    with pytest.raises(CheckpointError, match=r'module_1\.pth: holds module 1, but is given as module 0'):
        assemble_model(TINY, swapped)
    with pytest.raises(CheckpointError, match='has 4 modules but 3 module checkpoints'):
        assemble_model(TINY, module_paths[:3])
    with pytest.raises(CheckpointError, match=r'missing\.pth: checkpoint file not found'):
        assemble_model(TINY, [*module_paths[:3], tmp_path / 'missing.pth'])
    with pytest.raises(CheckpointError, match=r'module_0\.pth \(module 0\): made for the division \(2, 2, 2, 2\)'):
        assemble_model(TINY, module_paths, depths=(3, 3, 1, 1))
    with pytest.raises(CheckpointError, match=r'module_0\.pth \(module 0\): embed_dim is 32 but the target'):
        assemble_model(TINY, module_paths, embed_dim=64, num_heads=2)
    # a module whose tensors were damaged: the shape mismatch names the file
    ckpt = load_checkpoint(module_paths[2])
    ckpt.state_dict['blocks.0.mlp.fc1.weight'] = torch.zeros(7, 32)
    save_checkpoint(ckpt, tmp_path / 'bad_2.pth')
    with pytest.raises(CheckpointError, match=r'bad_2\.pth.*blocks\.4\.mlp\.fc1\.weight has shape \(7, 32\)'):
        assemble_model(TINY, [*module_paths[:2], tmp_path / 'bad_2.pth', module_paths[3]])


def test_meta_checkpoint_must_fit_the_division(meta_ckpt, tmp_path):
    with pytest.raises(CheckpointError, match='meta model has 4 modules .* target division .* has 3'):
        build_hybrid_model(TINY, 0, meta_ckpt, depths=(4, 2, 2))
    with pytest.raises(DivisionError, match='module index 4 is out of range'):
        build_hybrid_model(TINY, 4, meta_ckpt)


def test_division_must_sum_to_the_preset_depth():
    with pytest.raises(DivisionError, match=r'\(3, 3, 3, 2\) sums to 11 .*vit_base_patch16_224 has depth 12'):
        build_model('vit_base_patch16_224', depths=(3, 3, 3, 2))
    with pytest.raises(DivisionError, match='does not split evenly'):
        Division.even(10, 4)


def test_non_checkpoint_files_fail_clearly_and_nothing_is_overwritten(tmp_path):
    junk = tmp_path / 'notes.pth'
    junk.write_bytes(b'this is not a checkpoint')
    with pytest.raises(CheckpointError, match=r'notes\.pth: not a checkpoint \(a text file'):
        load_checkpoint(junk)
    good = tmp_path / 'good.pth'
    save_checkpoint(network_checkpoint(build_model(TINY)), good)
    before = good.read_bytes()
    convert_main = load_tool('convert_official').main
    assert convert_main([str(junk), str(good)]) == 2
    assert good.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith('.tmp')] == []


def test_checkpoint_kind_is_checked(module_paths):
    with pytest.raises(CheckpointError, match='is a module checkpoint, not a meta model'):
        build_hybrid_model(TINY, 0, module_paths[0])
    assert isinstance(load_checkpoint(module_paths[0]), Checkpoint)
