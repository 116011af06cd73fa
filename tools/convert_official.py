"""Convert a checkpoint released by the Deep Incubation authors into this project's format.

    python tools/convert_official.py SRC DST [--kind model|meta|module] [--module-idx I] [--num-heads H]

SRC holds ``model`` and ``model_stages`` (a list of K per-module state dicts; docs/paper.md). The
kind is read from the per-module depths unless given: all 1 -> a meta checkpoint incubation
can start from (``tools/incubate.py --meta DST``); one deeper module -> that module, ready to
assemble; otherwise a finished model, written as a timm checkpoint (DST .pth + .safetensors).
"""
import argparse
import sys

import _bootstrap  # noqa: F401
from backbones import CheckpointError, convert_official, export_timm, save_checkpoint
from backbones.checkpoints import read_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--kind', choices=['model', 'meta', 'module'])
    parser.add_argument('--module-idx', type=int, help='0-based index of the incubated module (kind module)')
    parser.add_argument('--num-heads', type=int,
                        help='attention heads (default: those of the paper\'s model of that width, ViT-B/L/H or DeiT-T/S)')
    parser.add_argument('--meta-depth', type=int, default=1, help='blocks per module of the meta model')
    args = parser.parse_args(argv)
    try:
        raw = read_file(args.src)
        if not isinstance(raw, dict) or 'model_stages' not in raw:
            raise CheckpointError(f'{args.src}: no `model_stages`; not a checkpoint in the authors\' format')
        ckpt = convert_official(raw, num_heads=args.num_heads, kind=args.kind, module_idx=args.module_idx,
                                meta_depth=args.meta_depth, path=args.src)
        if ckpt.kind == 'model':
            written = export_timm(ckpt, args.dst)
            print(f'{args.src}: finished model {tuple(ckpt.arch["depths"])} -> {written["pth"]}, {written["safetensors"]}, '
                  f'{written["timm"]}')
        else:
            save_checkpoint(ckpt, args.dst)
            what = f'module {ckpt.module_idx}' if ckpt.kind == 'module' else 'meta model'
            print(f'{args.src}: {what} {tuple(ckpt.arch["depths"])} -> {args.dst}')
    except CheckpointError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
