"""``python -m benchmarks speed``: training-step time and peak memory, side by side in one run.

Measured for one architecture and batch: our E2E step (:func:`backbones.build_model`), the
incubation step of every module i (:func:`backbones.build_hybrid_model`: meta modules frozen
with ``requires_grad=False``, only module i in the optimizer), a "naive hybrid" and timm's own
ViT E2E step. The naive hybrid is the same hybrid with *every* parameter requiring gradients
(only module i in the optimizer): it measures what ``requires_grad=False`` on the meta modules
saves (their weight gradients, and the graph of the modules before i), not any other code path.
With ``--nograd-prefix`` the incubation step of every module i > 0 is measured a second time
with the frozen prefix (embedding and meta modules before i) run under ``torch.no_grad()``, to
show whether that buys anything over the plain forward, where autograd already records nothing
for ops whose inputs and parameters need no gradient. Every step is forward + cross-entropy +
backward + AdamW step + zero_grad.

How: all models are built once. Each runs one step on a single sample under
:class:`torch.utils.flop_counter.FlopCounterMode`, which counts the forward+backward FLOPs
(every counted op - matmuls, attention, the patch-embedding convolution - is linear in the
batch, so the batch's FLOPs are ``batch`` times that; the test checks it), then ``warmup``
untimed steps and one step for peak memory at the real batch, then ``steps`` timed rounds
interleaved across the models (one step of each in turn, the order reversed every other round)
so that drifts of a shared machine hit all of them alike; the median is reported. Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` during the step minus what the *other* models hold (so it
is this model's parameters, optimizer state, gradients, activations and temporaries); on the
CPU the same quantity counted tensor by tensor (:class:`LiveTensorTracker`: resident
parameters, gradients and optimizer state plus the peak of the storages allocated during the
step; torch keeps no CPU peak statistic, and RSS would mix in allocator caching).

Targets (reported, never asserted): our E2E within 5% of timm's; each incubation step at most
1.1x its FLOP-predicted share of the E2E step and faster than the naive hybrid; incubation peak
memory below the naive hybrid's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .render import Cell, Table
from .results import Context, Generated, ResultsError, generator, measured_on, one_record

E2E_TIME_TOLERANCE = 1.05
FLOP_SHARE_TOLERANCE = 1.1
MiB = 2 ** 20


def _sdpa_cpu_formulas() -> Dict[Any, Callable]:
    """FLOP formulas for the CPU flash-attention kernels, which FlopCounterMode does not know."""
    import torch
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten
    mapping: Dict[Any, Callable] = {}
    if hasattr(aten, '_scaled_dot_product_flash_attention_for_cpu'):
        def forward(query, key, value, *args, out_shape=None, **kwargs):
            return sdpa_flop_count(query, key, value)

        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = forward
    if hasattr(aten, '_scaled_dot_product_flash_attention_for_cpu_backward'):
        def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
            return sdpa_backward_flop_count(grad_out, query, key, value)

        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = backward
    return mapping

# Dense (no structured sparsity) peak TFLOP/s by GPU and dtype, from the vendors' datasheets:
# NVIDIA V100 (SXM2) datasheet; A100 datasheet (SXM and PCIe alike); H100 datasheet (SXM and
# PCIe columns; the sparsity figures halved); H200 datasheet (SXM); L40S datasheet; RTX 4090:
# the Ada Lovelace architecture whitepaper (appendix, fp16/bf16 tensor with fp32 accumulate,
# which torch uses). Keys are matched against ``torch.cuda.get_device_name`` in this order.
PEAK_TFLOPS: List[Tuple[str, Dict[str, float]]] = [
    ('H100 PCIe', dict(fp32=51.0, tf32=378.0, bf16=756.0, fp16=756.0)),
    ('H100', dict(fp32=67.0, tf32=494.7, bf16=989.4, fp16=989.4)),      # SXM5 (HBM3)
    ('H200', dict(fp32=67.0, tf32=494.7, bf16=989.4, fp16=989.4)),      # SXM
    ('A100', dict(fp32=19.5, tf32=156.0, bf16=312.0, fp16=312.0)),
    ('V100', dict(fp32=15.7, fp16=125.0)),                               # SXM2; no tf32 / bf16
    ('L40S', dict(fp32=91.6, tf32=183.0, bf16=362.05, fp16=362.05)),
    ('RTX 4090', dict(fp32=82.6, tf32=82.6, bf16=165.2, fp16=165.2)),
]


def compute_dtype(device, amp: Optional[str]) -> str:
    """The dtype the step's matmuls run in: bf16/fp16 under autocast; on CUDA fp32 matmuls are
    tf32 when torch allows it."""
    import torch

    if amp:
        return amp
    if device.type == 'cuda' and torch.backends.cuda.matmul.allow_tf32:
        return 'tf32'
    return 'fp32'


def table_peak_tflops(device_name: str, dtype: str) -> Optional[float]:
    """The datasheet peak for ``device_name`` and ``dtype``, or None when the table has no entry."""
    for key, peaks in PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return peaks.get(dtype)
    return None


def matmul_probe_tflops(device, dtype: str, size: Optional[int] = None, reps: int = 5) -> float:
    """Achieved TFLOP/s of a square matmul (the best of ``reps``): the fallback peak where the
    table has no entry, and the only one on the CPU."""
    import torch

    size = size or (8192 if device.type == 'cuda' else 1024)
    torch_dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(dtype, torch.float32)
    a = torch.randn(size, size, device=device, dtype=torch_dtype)
    b = torch.randn(size, size, device=device, dtype=torch_dtype)
    best = float('inf')
    for _ in range(reps + 1):  # the first is a warm-up
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e12


def device_peak(device, amp: Optional[str], probe: bool = True) -> Dict[str, Any]:
    """The peak MFU is measured against: ``tflops``, ``dtype`` and ``source`` (datasheet or probe)."""
    dtype = compute_dtype(device, amp)
    name = _device_name(device)
    tflops = table_peak_tflops(name, dtype) if device.type == 'cuda' else None
    if tflops is not None:
        return dict(tflops=tflops, dtype=dtype, source='datasheet (dense)')
    if not probe:
        return dict(tflops=None, dtype=dtype, source='none')
    return dict(tflops=matmul_probe_tflops(device, dtype), dtype=dtype, source='measured matmul probe')


class _Config:
    """One model being measured, with its optimizer."""

    def __init__(self, name: str, label: str, model, params: Sequence, kind: str, module_idx: Optional[int] = None):
        import torch

        self.name, self.label, self.kind, self.module_idx = name, label, kind, module_idx
        self.model = model
        self.optimizer = torch.optim.AdamW(list(params), lr=1e-4, weight_decay=0.05)
        self.trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.optimized = sum(p.numel() for g in self.optimizer.param_groups for p in g['params'])
        self.total_params = sum(p.numel() for p in model.parameters())
        self.times: List[float] = []
        self.flops: Optional[int] = None
        self.peak_bytes: Optional[int] = None

    def resident_bytes(self) -> int:
        """Parameters, buffers, gradients and optimizer state this model holds between steps."""
        import torch

        seen = set()
        total = 0
        tensors = list(self.model.parameters()) + list(self.model.buffers())
        tensors += [p.grad for p in self.model.parameters() if p.grad is not None]
        for state in self.optimizer.state.values():
            tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        for t in tensors:
            key = (t.untyped_storage().data_ptr(), t.device)
            if key not in seen:
                seen.add(key)
                total += t.untyped_storage().nbytes()
        return total


def _with_nograd_prefix(hybrid):
    """``hybrid`` wrapped so that its frozen prefix runs under ``torch.no_grad()``.

    The prefix is the patch embedding and the leading blocks whose parameters all have
    ``requires_grad=False`` (for module i > 0: the meta modules before i); the rest runs as in
    timm's ``forward``. The wrapper holds ``hybrid`` as ``.model``, so its parameters are the same.
    """
    import torch

    class NoGradPrefix(torch.nn.Module):
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model
            embed = [model.cls_token, model.pos_embed, *model.patch_embed.parameters()]
            trainable = [any(p.requires_grad for p in b.parameters()) for b in model.blocks]
            self.frozen = -1 if any(p.requires_grad for p in embed) else (trainable + [True]).index(True)

        def forward(self, x):
            m = self.model
            if self.frozen < 0 or not torch.is_grad_enabled():
                return m(x)
            with torch.no_grad():
                x = m.blocks[:self.frozen](m.norm_pre(m.patch_drop(m._pos_embed(m.patch_embed(x)))))
            return m.forward_head(m.norm(m.blocks[self.frozen:](x)))

    return NoGradPrefix(hybrid)


def _build_configs(arch: str, device, meta_dir: Path, modules: Optional[Sequence[int]], include_timm: bool,
                   include_naive: bool, include_nograd_prefix: bool = False) -> List[_Config]:
    import timm

    from backbones import (
        build_hybrid_model,
        build_meta_model,
        build_model,
        network_checkpoint,
        save_checkpoint,
        timm_model_args,
    )

    ours = build_model(arch)
    configs = [_Config('e2e', 'E2E (ours)', ours, ours.parameters(), 'e2e')]
    if include_timm:
        args = timm_model_args(ours.arch_config())
        reference = timm.create_model(args.pop('model_name'), pretrained=False, **args)
        configs.append(_Config('timm', 'E2E (timm)', reference, reference.parameters(), 'timm'))
    meta_path = meta_dir / 'meta.pth'
    save_checkpoint(network_checkpoint(build_meta_model(arch), kind='meta'), meta_path)
    for i in (range(ours.division.num_modules) if modules is None else modules):
        hybrid = build_hybrid_model(arch, i, meta_path)
        configs.append(_Config(f'incubation_{i}', f'incubation, module {i}', hybrid,
                               [p for p in hybrid.parameters() if p.requires_grad], 'incubation', i))
        if include_nograd_prefix and i > 0:
            wrapped = _with_nograd_prefix(build_hybrid_model(arch, i, meta_path))
            configs.append(_Config(f'nograd_prefix_{i}', f'incubation, module {i}, frozen prefix under no_grad',
                                   wrapped, [p for p in wrapped.parameters() if p.requires_grad], 'nograd_prefix', i))
        if include_naive:  # the same hybrid, all parameters requiring gradients
            naive = build_hybrid_model(arch, i, meta_path)
            for p in naive.parameters():
                p.requires_grad_(True)
            configs.append(_Config(f'naive_{i}', f'naive hybrid, module {i}', naive,
                                   [p for _, p in naive.module_parameters(i)], 'naive', i))
    for config in configs:
        config.model.to(device).train()
    return configs


def _step(config: _Config, x, y, autocast) -> None:
    import torch.nn.functional as F

    with autocast():
        loss = F.cross_entropy(config.model(x), y)
    loss.backward()
    config.optimizer.step()
    config.optimizer.zero_grad(set_to_none=True)
    config.model.zero_grad(set_to_none=True)  # the naive hybrid's non-optimised gradients too


def _peak_memory(config: _Config, x, y, autocast, device) -> Optional[int]:
    import torch

    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        others = torch.cuda.memory_allocated(device) - config.resident_bytes()
        torch.cuda.reset_peak_memory_stats(device)
        _step(config, x, y, autocast)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - others
    tracker = LiveTensorTracker()
    with tracker:
        _step(config, x, y, autocast)
    return config.resident_bytes() + tracker.peak


class LiveTensorTracker:
    """Peak bytes of tensor storage allocated inside the ``with`` block and alive at once.

    A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every op's outputs; each new
    storage is counted until it is freed (a ``weakref.finalize`` on the storage, whose Python
    object lives as long as the storage itself). This is the device-independent stand-in for
    ``torch.cuda.max_memory_allocated`` on the CPU, where torch keeps no peak statistic; it
    counts tensor bytes, not allocator caching or fragmentation.
    """

    def __init__(self) -> None:
        self.live: Dict[int, int] = {}
        self.current = 0
        self.peak = 0
        self._mode = None

    def _track(self, tensor) -> None:
        import weakref

        storage = tensor.untyped_storage()
        key = storage._cdata
        if key in self.live:
            return
        nbytes = storage.nbytes()
        self.live[key] = nbytes
        self.current += nbytes
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __enter__(self) -> 'LiveTensorTracker':
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_map_only

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tree_map_only(torch.Tensor, tracker._track, out)
                return out

        self._mode = _Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        self._mode = None


def train_step_flops(config: _Config, x, y, autocast=nullcontext) -> int:
    """Forward + backward FLOPs of one training step on ``x`` (the optimizer step is not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_sdpa_cpu_formulas())
    with torch.compiler.set_stance('force_eager'), counter:  # count a compiled model's eager ops
        _step(config, x, y, autocast)
    return int(counter.get_total_flops())


def measure(arch: str = 'vit_base_patch16_224', batch: int = 32, device: Optional[str] = None, steps: int = 10,
            warmup: int = 1, amp: Optional[str] = None, modules: Optional[Sequence[int]] = None,
            include_timm: bool = True, include_naive: bool = True, include_nograd_prefix: bool = False,
            seed: int = 0, compile: bool = False, probe: bool = True,
            log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Measure every configuration; returns a JSON-able dict (``rows`` and ``targets``)."""
    import torch

    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    if steps < 1 or warmup < 0:
        raise ValueError(f'speed needs at least one timed step and no negative warm-up (steps={steps}, '
                         f'warmup={warmup})')
    if amp not in (None, 'bf16', 'fp16'):
        raise ValueError(f'--amp must be bf16 or fp16, got {amp!r}')
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(amp or '')

    def autocast():
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()

    log = log or (lambda _msg: None)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        configs = _build_configs(arch, device, Path(tmp), modules, include_timm, include_naive,
                                 include_nograd_prefix)
    e2e = configs[0].model
    img = e2e.patch_embed.img_size
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, e2e.patch_embed.proj.in_channels, *img, generator=gen).to(device)
    y = torch.randint(0, max(e2e.num_classes, 1), (batch,), generator=gen).to(device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    t0 = time.perf_counter()

    def took() -> str:
        return f'{time.perf_counter() - t0:.0f} s so far'

    log(f'speed: {arch}, batch {batch}, {device}, amp {amp or "off"}: {len(configs)} steps to compare '
        f'({", ".join(c.label for c in configs)})')
    log('speed: counting each step\'s training FLOPs ...')
    for config in configs:
        config.flops = batch * train_step_flops(config, x[:1], y[:1], autocast)
    log(f'speed: FLOPs counted ({took()}); warm-up ({warmup} step(s) each) and peak memory ...')
    if compile:  # in place: the same parameters, the optimizer untouched
        for config in configs:
            config.model.compile()
        warmup = max(warmup, 2)  # compilation, then one compiled step, before anything is timed
    for _ in range(warmup):
        for config in configs:
            _step(config, x, y, autocast)
    for config in configs:
        config.peak_bytes = _peak_memory(config, x, y, autocast, device)
    log(f'speed: warm-up and memory done ({took()}); timing {steps} interleaved rounds ...')
    rounds_start = time.perf_counter()
    for rep in range(steps):
        order = configs if rep % 2 == 0 else list(reversed(configs))
        for config in order:
            sync()
            start = time.perf_counter()
            _step(config, x, y, autocast)
            sync()
            config.times.append(time.perf_counter() - start)
        per_round = (time.perf_counter() - rounds_start) / (rep + 1)
        log(f'speed: round {rep + 1}/{steps} done ({took()}, about {per_round * (steps - rep - 1):.0f} s to go)')

    base = configs[0]
    base_time = statistics.median(base.times)
    rows = []
    for config in configs:
        median = statistics.median(config.times)
        flop_ratio = config.flops / base.flops if base.flops else None
        time_ratio = median / base_time
        rows.append(dict(
            name=config.name, label=config.label, kind=config.kind, module_idx=config.module_idx,
            params=config.total_params, trainable_params=config.trainable, optimized_params=config.optimized,
            time_ms=median * 1e3, time_min_ms=min(config.times) * 1e3, time_max_ms=max(config.times) * 1e3,
            time_ratio=time_ratio, flops=config.flops, flop_ratio=flop_ratio,
            time_over_flop_share=time_ratio / flop_ratio if flop_ratio else None,
            peak_memory_mib=None if config.peak_bytes is None else config.peak_bytes / MiB,
            images_per_s=batch / median, tflops_per_s=config.flops / median / 1e12 if config.flops else None))
    peak = device_peak(device, amp, probe=probe)
    for row in rows:
        row['mfu'] = row['tflops_per_s'] / peak['tflops'] if peak['tflops'] and row['tflops_per_s'] else None
    result = dict(arch=arch, batch=batch, device=str(device), device_name=_device_name(device), amp=amp or 'off',
                  steps=steps, warmup=warmup, torch=torch.__version__, threads=torch.get_num_threads(),
                  memory_method=('torch.cuda.max_memory_allocated minus the other models\' memory'
                                 if device.type == 'cuda' else 'live tensor bytes (dispatch-mode accounting)'),
                  compile=compile, peak=peak, rows=rows)
    result['targets'] = check_targets(rows)
    return result


def _device_name(device) -> str:
    import os

    import torch

    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    return f'cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'


def check_targets(rows: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The targets, each with the measured value and whether it is met (None: not measurable)."""
    by_name = {r['name']: r for r in rows}
    targets = []
    ours, timm_row = by_name.get('e2e'), by_name.get('timm')
    if ours and timm_row:
        ratio = ours['time_ms'] / timm_row['time_ms']
        targets.append(dict(target='E2E (ours) within 5% of E2E (timm)', measured=f'{ratio:.3f}x timm',
                            met=ratio <= E2E_TIME_TOLERANCE))
    for row in rows:
        if row['kind'] != 'incubation':
            continue
        i = row['module_idx']
        share = row['time_over_flop_share']
        targets.append(dict(target=f'incubation {i} <= {FLOP_SHARE_TOLERANCE}x its FLOP share of E2E',
                            measured=None if share is None else f'{share:.3f}x',
                            met=None if share is None else share <= FLOP_SHARE_TOLERANCE))
        nograd = by_name.get(f'nograd_prefix_{i}')
        if nograd:  # informational: is the no_grad prefix path worth having?
            ratio = nograd['time_ms'] / row['time_ms']
            targets.append(dict(target=f'incubation {i}: frozen prefix under no_grad vs plain forward (info)',
                                measured=f'{ratio:.3f}x plain', met=None))
        naive = by_name.get(f'naive_{i}')
        if naive:
            ratio = row['time_ms'] / naive['time_ms']
            targets.append(dict(target=f'incubation {i} faster than naive hybrid {i}', measured=f'{ratio:.3f}x naive',
                                met=ratio < 1.0))
            if row['peak_memory_mib'] is not None and naive['peak_memory_mib'] is not None:
                mem = row['peak_memory_mib'] / naive['peak_memory_mib']
                targets.append(dict(target=f'incubation {i} peak memory below naive hybrid {i}',
                                    measured=f'{mem:.3f}x naive', met=mem < 1.0))
            else:
                targets.append(dict(target=f'incubation {i} peak memory below naive hybrid {i}',
                                    measured='n/a', met=None))
    return targets


def _num(value: Optional[float], fmt: str) -> str:
    return 'n/a' if value is None else format(value, fmt)


def format_table(result: Dict[str, Any]) -> str:
    """The measurement as Markdown: one row per step, then the targets."""
    steps = Table('speed', 'Training step', ['step', 'params (M)', 'optimised (M)', 'time (ms)', 'min–max (ms)',
                                              'ratio to E2E', 'train GFLOPs', 'FLOP-predicted ratio',
                                              'time / FLOP share', 'peak memory (MiB)', 'images/s', 'TFLOP/s',
                                              'MFU'], align=['l'] + ['r'] * 12)
    for r in result['rows']:
        steps.add([Cell(text) for text in (
            r['label'], f'{r["params"] / 1e6:.2f}', f'{r["optimized_params"] / 1e6:.2f}',
            f'{r["time_ms"]:.1f}', f'{r["time_min_ms"]:.1f}–{r["time_max_ms"]:.1f}', f'{r["time_ratio"]:.3f}',
            _num(None if r['flops'] is None else r['flops'] / 1e9, '.3f'), _num(r['flop_ratio'], '.3f'),
            _num(r['time_over_flop_share'], '.3f'), _num(r['peak_memory_mib'], '.1f'),
            f'{r["images_per_s"]:.1f}', _num(r.get('tflops_per_s'), '.3f'),
            _num(None if r.get('mfu') is None else 100 * r['mfu'], '.1f') + ('%' if r.get('mfu') else ''))])
    targets = Table('targets', 'Targets', ['target', 'measured', 'met'], align=['l', 'r', 'l'])
    for t in result['targets']:
        met = 'n/a' if t['met'] is None else ('yes' if t['met'] else 'no')
        targets.add([Cell(t['target']), Cell(t['measured'] or 'n/a'), Cell(met)])
    lines = [f'Training step of `{result["arch"]}`, batch {result["batch"]}, {result["device_name"]}, '
             f'amp {result["amp"]}{", compiled" if result.get("compile") else ""}; median of {result["steps"]} '
             f'interleaved rounds after {result["warmup"]} warm-up step(s) and the memory step; '
             f'torch {result["torch"]}; peak memory: {result["memory_method"]}; {_peak_text(result["peak"])}.', '',
             steps.to_markdown(title=False), targets.to_markdown(title=False).rstrip('\n')]
    if result['device'].startswith('cpu'):
        lines += ['', 'CPU timings: a shared CPU is noisy; the targets are meant for a GPU.']
    return '\n'.join(lines) + '\n'


def _peak_text(peak: Dict[str, Any]) -> str:
    if not peak.get('tflops'):
        return 'MFU: no peak known'
    return f'MFU against {peak["tflops"]:.3g} TFLOP/s {peak["dtype"]} ({peak["source"]})'


# --- the mmengine loop against the bare step --------------------------------------------------------

CLS_CONFIGS = Path(__file__).resolve().parents[1] / 'classification' / 'configs'
# The real config each architecture trains with; any other arch trains in the digits config.
LOOP_CONFIGS = {
    'vit_base_patch16_224': 'vit-b_e2e_300e_in1k.py',
    'deit_tiny_depth32_patch4_32': 'deit-t-d32_e2e_300e_cifar100.py',
    'vit_digits_depth16': 'vit-digits-d16_e2e_60e_digits.py',
}
DIGITS_CONFIG = 'vit-digits-d16_e2e_60e_digits.py'
# loop / bare-step throughput wanted; others are reported without a target
LOOP_TARGETS = {'vit_base_patch16_224': 0.9, 'deit_tiny_depth32_patch4_32': 0.8}
DEFAULT_LOOP = {'cuda': ['vit_base_patch16_224:64', 'deit_tiny_depth32_patch4_32:256'],
                'cpu': ['vit_base_patch16_224:8', 'deit_tiny_depth32_patch4_32:64', 'vit_digits_depth16:64']}


class _LoopDone(Exception):
    """Raised by the probe hook once every block is timed: the loop stops there."""


def _parse_loop_spec(spec: str, default_batch: int) -> Tuple[str, int]:
    arch, _, batch = spec.partition(':')
    return arch, int(batch) if batch else default_batch


def loop_config(arch: str, batch: int, data_root: str, work_dir: str, config: Optional[str] = None,
                options: Optional[Dict[str, Any]] = None, device_type: str = 'cpu'):
    """The real training config of ``arch`` (or ``config``) set up for timing ``batch`` per iteration:
    the effective batch is the batch (no accumulation), and no evaluation or checkpoint falls in the
    timed iterations (both are measured per run by ``DeviceHoursHook``'s overhead)."""
    from mmengine.config import Config

    path = Path(config) if config else CLS_CONFIGS / LOOP_CONFIGS.get(arch, DIGITS_CONFIG)
    cfg = Config.fromfile(str(path))
    merged: Dict[str, Any] = {'model.arch': arch, 'train_dataloader.batch_size': batch, 'effective_batch_size': batch,
                              'train_cfg.max_epochs': 10 ** 6, 'train_cfg.val_interval': 10 ** 6,
                              'default_hooks.checkpoint.interval': 10 ** 6, 'randomness.seed': 0}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        merged[f'{loader}.dataset.data_root'] = data_root
    if arch not in LOOP_CONFIGS and not config:  # a preset in the 16x16 digits data
        merged.update({'model.arch_overrides.img_size': 16, 'model.arch_overrides.patch_size': 4})
    if device_type == 'cpu':  # 2 workers at most on a CPU, where they take cores from the step
        merged['train_dataloader.num_workers'] = min(2, cfg.train_dataloader.get('num_workers', 0))
        if not merged['train_dataloader.num_workers']:
            merged['train_dataloader.persistent_workers'] = False
    merged.update(options or {})
    cfg.merge_from_dict(merged)
    cfg.work_dir = work_dir
    # mmengine names its Visualizer instance after the experiment (config name + a timestamp in
    # seconds) and reuses an existing instance of that name: two loops of one config built within
    # a second would log to the first one's (deleted) work dir. The work dir is unique; so is this.
    cfg.experiment_name = f'speed-loop_{Path(work_dir).parent.name}'
    cfg.launcher = 'none'
    return cfg


def _loop_probe(runner, warmup: int, blocks: int, block: int, compile: bool, sync: Callable[[], None],
                log: Callable[[str], None] = lambda _msg: None):
    """A hook that times ``blocks`` blocks of ``block`` loop iterations, each followed by as many
    bare steps of a copy of the same network on the loop's first batch."""
    import copy
    import inspect

    import torch
    import torch.nn.functional as F
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper

    class Probe(Hook):
        priority = 'HIGHEST'

        def __init__(self) -> None:
            self.loop_times: List[float] = []
            self.bare_times: List[float] = []
            self.seen = 0
            self.start: Optional[float] = None

        def before_train(self, runner) -> None:  # before CompileNetworkHook (LOWEST) compiles the loop's
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            self.model = model
            self.bare = copy.deepcopy(model.network)
            wrapper = runner.optim_wrapper
            optimizer = wrapper.optimizer
            accepted = inspect.signature(type(optimizer)).parameters  # defaults may hold more (AdamW)
            self.optimizer = type(optimizer)([p for p in self.bare.parameters() if p.requires_grad],
                                             **{k: v for k, v in optimizer.defaults.items() if k in accepted})
            self.dtype = getattr(wrapper, 'cast_dtype', None)
            if compile:
                self.bare.compile()

        def bare_step(self) -> None:
            device = self.x.device.type
            ctx = torch.autocast(device, dtype=self.dtype) if self.dtype is not None else nullcontext()
            with ctx:
                loss = F.cross_entropy(self.bare(self.x), self.y)
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)

        def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
            if self.seen == 0:
                data = self.model.data_preprocessor(copy.deepcopy(data_batch), False)
                self.x, self.y = data['inputs'], data['data_samples']
                for _ in range(warmup):
                    self.bare_step()
            self.seen += 1
            timed = self.seen - 1 - warmup  # loop iterations finished since the timing began
            if timed < 0 or timed % block:
                return
            sync()
            now = time.perf_counter()
            if self.start is not None:
                self.loop_times.append((now - self.start) / block)
                log(f'speed --loop: block {len(self.loop_times)}/{blocks}: loop {self.loop_times[-1] * 1e3:.1f} ms, '
                    f'bare {self.bare_times[-1] * 1e3:.1f} ms per iteration')
            if len(self.loop_times) == blocks:
                raise _LoopDone
            start = time.perf_counter()
            for _ in range(block):
                self.bare_step()
            sync()
            self.bare_times.append((time.perf_counter() - start) / block)
            self.start = time.perf_counter()

    return Probe()


def measure_loop(arch: str, batch: int, device: Optional[str] = None, data_root: Optional[str] = None,
                 config: Optional[str] = None, blocks: int = 3, block: int = 3, warmup: int = 2,
                 amp: Optional[str] = None, compile: bool = False, options: Optional[Dict[str, Any]] = None,
                 log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Throughput of ``blocks`` x ``block`` iterations of the real mmengine loop (``Runner.train``,
    data loading, hooks and logging included) against the bare step of a copy of the same network
    on one fixed batch, interleaved block by block (median per iteration reported)."""
    import torch
    from mmengine.runner import Runner

    import runtime.openmmlab  # noqa: F401  (the project's hooks and wrappers)
    from runtime.fastpaths import apply_fast_paths

    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    log = log or (lambda _msg: None)

    def sync() -> None:
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    with tempfile.TemporaryDirectory() as tmp:
        if data_root is None:
            from classification.digits import write_digits
            data_root = write_digits(str(Path(tmp) / 'digits'))
        cfg = loop_config(arch, batch, str(data_root), str(Path(tmp) / 'work'), config, options, device.type)
        apply_fast_paths(cfg, compile=compile, amp=amp)
        if device.type == 'cpu':
            cfg.env_cfg = dict(cfg.get('env_cfg', {}), cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
        log(f'speed --loop: {arch}, batch {batch}, {device}: building the Runner from {Path(cfg.filename).name}')
        runner = Runner.from_cfg(cfg)
        probe = _loop_probe(runner, warmup, blocks, block, compile, sync, log)
        runner.register_hook(probe)
        try:
            runner.train()
        except _LoopDone:
            pass
        else:
            raise RuntimeError(f'speed --loop: the loop of {arch} ended before {blocks} blocks were timed')
        finally:
            if runner.train_loop is not None and hasattr(runner.train_dataloader, '_iterator'):
                runner.train_dataloader._iterator = None  # stop persistent workers now
    loop = statistics.median(probe.loop_times)
    bare = statistics.median(probe.bare_times)
    target = LOOP_TARGETS.get(arch)
    ratio = bare / loop
    return dict(arch=arch, batch=batch, config=Path(cfg.filename).name, device=str(device),
                device_name=_device_name(device), amp=amp or 'off', compile=compile, blocks=blocks, block=block,
                warmup=warmup, loop_ms=loop * 1e3, bare_ms=bare * 1e3, loop_images_per_s=batch / loop,
                bare_images_per_s=batch / bare, ratio=ratio, target=target,
                met=None if target is None else ratio >= target,
                loop_times_ms=[t * 1e3 for t in probe.loop_times], bare_times_ms=[t * 1e3 for t in probe.bare_times])


def format_loop_table(results: Sequence[Dict[str, Any]]) -> str:
    table = Table('loop', 'The mmengine loop against the bare step',
                  ['model', 'config', 'batch', 'loop (ms/iter)', 'bare step (ms)', 'loop images/s',
                   'bare images/s', 'loop / bare throughput', 'target', 'met'], align=['l', 'l'] + ['r'] * 7 + ['l'])
    for r in results:
        table.add([Cell(text) for text in (
            f'`{r["arch"]}`', f'`{r["config"]}`', str(r['batch']), f'{r["loop_ms"]:.1f}', f'{r["bare_ms"]:.1f}',
            f'{r["loop_images_per_s"]:.1f}', f'{r["bare_images_per_s"]:.1f}', f'{r["ratio"]:.3f}',
            'n/a' if r['target'] is None else f'>= {r["target"]}',
            'n/a' if r['met'] is None else ('yes' if r['met'] else 'no'))])
    first = results[0]
    head = (f'The real mmengine loop (`Runner.train`: data loading, hooks, logging) against the bare step '
            f'(forward, cross-entropy, backward, optimizer step of a copy of the same network, on one fixed '
            f'batch), {first["device_name"]}, amp {first["amp"]}{", compiled" if first["compile"] else ""}: '
            f'{first["blocks"]} blocks of {first["block"]} iterations of each, interleaved, after '
            f'{first["warmup"]} warm-up iterations; median per iteration.')
    return head + '\n\n' + table.to_markdown(title=False)


DEFAULT_ARCH = 'vit_base_patch16_224'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--arch', default=None, help='a backbones preset (e.g. vit_tiny_test; default '
                        f'{DEFAULT_ARCH}); with a bare --loop, the one model the loop times')
    parser.add_argument('--batch', type=int, default=32)
    parser.add_argument('--device', default=None, help='cuda or cpu (default: cuda if available)')
    parser.add_argument('--steps', type=int, default=10, help='timed steps per configuration (median reported)')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed steps per configuration before the memory step and the timed rounds')
    parser.add_argument('--amp', choices=['bf16', 'fp16'], default=None, help='autocast dtype (default: fp32)')
    parser.add_argument('--compile', action='store_true', help='torch.compile every model (in place) first')
    parser.add_argument('--modules', type=int, nargs='+', default=None, help='only these module indices')
    parser.add_argument('--no-timm', action='store_true', help='skip timm\'s model')
    parser.add_argument('--no-naive', action='store_true', help='skip the naive hybrids')
    parser.add_argument('--nograd-prefix', action='store_true',
                        help='also time each hybrid i > 0 with its frozen prefix under torch.no_grad()')
    parser.add_argument('--no-probe', action='store_true', help='no matmul probe where no datasheet peak is known')
    parser.add_argument('--loop', nargs='*', metavar='ARCH[:BATCH]', default=None,
                        help='time the mmengine loop against the bare step instead, for these models (default: '
                             'ViT-B and the 32-block narrow model, plus the digits model on the CPU)')
    parser.add_argument('--loop-config', help='the config every --loop model trains with (default: its own)')
    parser.add_argument('--loop-blocks', type=int, default=3, help='--loop: timed blocks of each side')
    parser.add_argument('--loop-block', type=int, default=3, help='--loop: iterations per block')
    parser.add_argument('--data-root', help='--loop: ImageNet-layout data (default: digits written to a temp dir)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='--loop: config overrides (values parsed as Python literals where they are)')
    parser.add_argument('--json', default=None, metavar='PATH', help='also write the measurement as JSON')
    parser.add_argument('--record', default='work_dirs/speed/results.json', metavar='PATH',
                        help='the result record (benchmarks.records; commit it under docs/results/ to quote it); '
                             '"" for none')


def _literal(value: str) -> Any:
    import ast
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def run(args: argparse.Namespace) -> int:
    import sys

    import torch

    from backbones import get_preset
    from runtime.progress import Progress

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    if args.loop and args.arch:
        from runtime.cli import UserError
        raise UserError(f'speed: --arch {args.arch} and --loop {" ".join(args.loop)} name different models; give the '
                         'models to time as --loop ARCH[:BATCH] ... alone, or --arch with a bare --loop')
    if args.loop is not None and not args.loop and args.arch:
        args.loop = [args.arch]  # a bare --loop times the model --arch names, not the default set
    args.arch = args.arch or DEFAULT_ARCH
    for arch in [args.arch] if args.loop is None else [_parse_loop_spec(s, args.batch)[0] for s in args.loop]:
        get_preset(arch)  # an unknown name is one line (did you mean ...?) before anything is measured
    if args.loop is not None:
        device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
        specs = args.loop or DEFAULT_LOOP['cuda' if device.startswith('cuda') else 'cpu']
        options = dict(item.split('=', 1) for item in args.cfg_options)
        results = []
        models = [_parse_loop_spec(spec, args.batch) for spec in specs]
        progress = Progress([f'{a}:{b}' for a, b in models], prefix='speed --loop:', what='model', stream=sys.stderr,
                            bar=False)
        for arch, batch in models:
            progress.start(f'{arch}:{batch}')
            log(f'speed --loop: {arch}, batch {batch}: starting ({progress.estimate()["position"]})')
            results.append(measure_loop(arch, batch, device=device, data_root=args.data_root,
                                        config=args.loop_config, blocks=args.loop_blocks, block=args.loop_block,
                                        warmup=args.warmup + 1, amp=args.amp, compile=args.compile,
                                        options={k: _literal(v) for k, v in options.items()}, log=log))
            progress.finish(f'{arch}:{batch}')
            log(f'speed --loop: {arch}, batch {batch}: done, loop / bare throughput {results[-1]["ratio"]:.3f}')
            progress.poll(force=True)
            log(format_loop_table(results))  # each model's figures as soon as they are measured
        log(progress.close())
        print(format_loop_table(results))
        result: Any = dict(loop=results)
    else:
        result = measure(arch=args.arch, batch=args.batch, device=args.device, steps=args.steps, warmup=args.warmup,
                         amp=args.amp, modules=args.modules, include_timm=not args.no_timm,
                         include_naive=not args.no_naive, include_nograd_prefix=args.nograd_prefix,
                         compile=args.compile, probe=not args.no_probe, log=log)
        print(format_table(result))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2))
    if args.record:
        from .records import command_line, write_record

        write_record(args.record, 'speed', command_line(), [result], extra=dict(threads=torch.get_num_threads()))
        log(f'speed: result record {args.record}')
    return 0


# --- the generated blocks of its page (python -m benchmarks results) ---------------------------


@generator('speed-table')
def speed_block(ctx: Context) -> Generated:
    record = one_record(ctx, 'speed-table')
    rows = [r for r in record['runs'] if isinstance(r, Mapping) and 'rows' in r]
    if not rows:
        raise ResultsError('speed-table: the record holds no step measurement (benchmarks speed without --loop)')
    return Generated('\n'.join(format_table(r) for r in rows) + measured_on(ctx))


@generator('loop-table')
def loop_block(ctx: Context) -> Generated:
    record = one_record(ctx, 'loop-table')
    loops = [x for r in record['runs'] if isinstance(r, Mapping) for x in r.get('loop') or []]
    if not loops:
        raise ResultsError('loop-table: the record holds no --loop measurement')
    return Generated(format_loop_table(loops) + measured_on(ctx))
