"""Atomic file writes: the one writer every checkpoint, manifest and record goes through.

A reader, or a run started after a kill, sees either the old file or the complete new one,
never a torn one: the data goes to a temporary file in the same folder (so the rename stays on
one file system), is flushed to disk (``fsync``), and is renamed over the target. On any
error the temporary file is removed. Torch-free on purpose: the run-record readers use it too.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Union

from . import fault

PathLike = Union[str, 'os.PathLike[str]']
TMP_SUFFIX = '.tmp'


def temp_prefix(path: PathLike) -> str:
    """The name prefix of this file's temporary files (``.NAME.``), for cleaning them up."""
    return f'.{os.path.basename(os.fspath(path))}.'


def atomic_write(path: PathLike, write: Callable[[str], None]) -> str:
    """Create ``path`` atomically: ``write(tmp_path)`` writes the content, then it is renamed.

    Args:
        path: the file to create or replace.
        write: called with the temporary file's path; it writes the whole content there.

    Returns:
        ``path`` as a string.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or '.'
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TMP_SUFFIX, dir=folder)
    os.close(fd)
    try:
        fault.point(fault.file_event('write_begin', path))  # test-only kill points, inert by default
        write(tmp)
        with open(tmp, 'rb+') as f:  # flush what ``write`` left in the page cache
            os.fsync(f.fileno())
        fault.point(fault.file_event('write_end', path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_folder(path: PathLike, write: Callable[[str], None]) -> str:
    """Create the folder ``path`` at once: ``write(tmp_dir)`` fills a temporary folder beside it,
    which then replaces ``path`` (a reader sees the old folder, none, or the complete new one).

    Args:
        path: the folder to create or replace.
        write: called with the temporary folder's path; it writes every file there.

    Returns:
        ``path`` as a string.
    """
    path = os.fspath(path)
    parent = os.path.dirname(path) or '.'
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=temp_prefix(path), suffix=TMP_SUFFIX, dir=parent)
    try:
        write(tmp)
        for name in os.listdir(tmp):
            if os.path.isfile(os.path.join(tmp, name)):
                with open(os.path.join(tmp, name), 'rb+') as f:
                    os.fsync(f.fileno())
        if os.path.isdir(path):
            old = tempfile.mkdtemp(prefix=temp_prefix(path), suffix=TMP_SUFFIX, dir=parent)
            os.replace(path, old)  # a folder is renamed onto an empty one only
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically."""
    def write(tmp: str) -> None:
        with open(tmp, 'wb') as f:
            f.write(data)
    return atomic_write(path, write)


def atomic_write_json(path: PathLike, data: Any) -> str:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return atomic_write_bytes(path, (json.dumps(data, indent=2) + '\n').encode())
