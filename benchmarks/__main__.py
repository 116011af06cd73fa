"""``python -m benchmarks {report,speed,reproduce,suite,probe,scenes,results,repeatability} ...``.

A wrong input (an unknown ``--arch``, a run dir that cannot be read) is one line and exit
status 2; ``--debug`` keeps the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import List, Optional, Sequence, Tuple

COMMANDS: List[Tuple[str, str, str]] = [
    ('report', 'benchmarks.report', 'tables (Markdown, CSV, LaTeX) and curves (PNG, SVG) from work dirs'),
    ('speed', 'benchmarks.speed', 'training-step time and peak memory: E2E, incubation, naive hybrid, timm'),
    ('reproduce', 'benchmarks.reproduce', 'run a reproduction preset end to end'),
    ('suite', 'benchmarks.suite', 'the downstream suite: upstream runs -> detection and segmentation -> one report'),
    ('probe', 'benchmarks.transfer_probe', 'linear probes of the upstream backbones: items vs scenes, against random init'),
    ('scenes', 'benchmarks.fashion_scenes', 'write the Fashion-MNIST scenes (COCO instances + semantic labels)'),
    ('results', 'benchmarks.results', 'regenerate (--write) or check (--check) the docs\' tables from docs/results/'),
    ('repeatability', 'benchmarks.repeatability', 'does a seed repeat bit for bit: threads, forking, twice'),
]


def available_commands() -> List[Tuple[str, str, str]]:
    """``reproduce`` only where :mod:`benchmarks.reproduce` exists."""
    return [c for c in COMMANDS if c[0] != 'reproduce' or importlib.util.find_spec(c[1]) is not None]


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the chosen subcommand's module is imported (for its ``add_arguments``)."""
    chosen = next((a for a in argv if not a.startswith('-')), None)
    parser = argparse.ArgumentParser(prog='python -m benchmarks',
                                     description='Deep Incubation benchmarks: reports, speed, reproduction, data')
    sub = parser.add_subparsers(dest='command', required=True, metavar='{' + ','.join(
        c[0] for c in available_commands()) + '}')
    for name, module, help_text in available_commands():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        p.add_argument('--debug', action='store_true', help='show the traceback of expected errors too')
        if name == chosen:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from runtime.cli import EXIT_USER_ERROR, UserError, one_line

    args = build_parser(argv).parse_args(argv)
    from .records import set_benchmarks_command

    set_benchmarks_command(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f'error: {one_line(exc)} (--debug shows the traceback)', file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == '__main__':
    sys.exit(main())
