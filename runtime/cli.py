"""Command-line tools report what a user can cause in one line, not a traceback.

An *expected* error is one the user can fix: a missing or unreadable file, data that is not
in the expected layout, a checkpoint that does not fit, a bad value, a config key that nothing
reads. Each is a :class:`~runtime.errors.UserError` (or a ``FileNotFoundError``, e.g. a config
that mmengine cannot find). :func:`run_cli` prints it as ``error: MESSAGE`` (the message names the file, key or
value) and returns exit status 2; ``--debug`` re-raises it with its traceback. Anything else
is a bug and keeps its traceback.

Config keys: every dict the project defines and reads is checked with :func:`check_keys`, so a
misspelt key is refused (with the closest known one) instead of the default running silently;
a key that an OpenMMLab or timm constructor rejects (its ``TypeError``) is turned into the same
kind of line by :func:`config_errors`.
"""
from __future__ import annotations

import contextlib
import difflib
import inspect
import re
import sys
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Tuple

from .errors import UserError  # defined in a leaf module; imported from here too

EXIT_USER_ERROR = 2


class UnknownKeyError(UserError):
    """A config key that the dict it sits in does not take."""


def unknown_key_message(key: str, known: Iterable[str], where: str, what: str = '') -> str:
    """``WHERE.KEY: unknown key; did you mean WHERE.CLOSEST?`` (the known keys when few and none is close)."""
    known = sorted(set(known))
    close = difflib.get_close_matches(key, known, n=1)
    hint = (f'did you mean {where}.{close[0]}?' if close
            else f'{where} takes {", ".join(known)}' if len(known) <= 12 else 'check the spelling')
    return f'{where}.{key}: unknown key{f" for {what}" if what else ""}; {hint}'


def check_keys(given: Mapping[str, Any], known: Iterable[str], where: str, what: str = '') -> None:
    """Refuse the first key of ``given`` that is not in ``known``.

    Args:
        given: the dict from a config.
        known: the keys it may hold.
        where: its dotted place in the config (``model.role``), for the message.
        what: what reads it (``role 'meta'``), for the message.
    """
    known = set(known)
    for key in given:
        if key not in known:
            raise UnknownKeyError(unknown_key_message(str(key), known, where, what))


_UNEXPECTED = re.compile(r"(\w+)(\.__init__)?\(\) got an unexpected keyword argument '(\w+)'")


def _config_paths(node: Any, key: str, prefix: str = '') -> List[Tuple[str, Mapping[str, Any]]]:
    """Every (dotted path, dict) of the config where a dict holds ``key``, outermost first."""
    found: List[Tuple[str, Mapping[str, Any]]] = []
    if isinstance(node, Mapping):
        if key in node:
            found.append((prefix, node))
        for name, value in node.items():
            found += _config_paths(value, key, f'{prefix}.{name}' if prefix else str(name))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += _config_paths(value, key, f'{prefix}.{i}')
    return found


def _callee(exc: BaseException, name: str, is_class: bool) -> Any:
    """The class (or function) called with the rejected keyword, found in the frames the error
    passed through: the caller holds it (``obj_cls(**args)``) or an instance of it (``super().__init__``)."""
    tb = exc.__traceback__
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for value in (*frame.f_locals.values(), frame.f_globals.get(name)):
            if is_class:
                for cls in (value,) if inspect.isclass(value) else type(value).__mro__:
                    if cls.__name__ == name:
                        return cls
            elif callable(value) and getattr(value, '__name__', None) == name:
                return value
    return None


def _parameters(obj: Any) -> List[str]:
    """The keyword parameters of a class or function (none when it has no readable signature)."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def rejected_key_error(exc: TypeError, cfg: Mapping[str, Any]) -> Optional[UnknownKeyError]:
    """The one-line error for a config key that a constructor (mmengine's, mmdet's, timm's...)
    rejects, or None when the rejected keyword is in no dict of the config (then it is a bug)."""
    found = _UNEXPECTED.search(str(exc))
    if not found:
        return None
    name, is_init, key = found.groups()
    places = _config_paths(cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg, key)  # an mmengine Config
    if not places:
        return None
    # the dict built as that class (its ``type``), else the innermost dict holding the key
    typed = [p for p, d in places if str(getattr(d.get('type'), '__name__', d.get('type'))).split('.')[-1] == name]
    where = typed[0] if typed else places[-1][0]
    callee = _callee(exc, name, bool(is_init))
    close = difflib.get_close_matches(key, _parameters(callee) if callee is not None else [], n=1)
    place = f'{where}.{key}' if where else key
    hint = f'; did you mean {where + "." if where else ""}{close[0]}?' if close else ''
    return UnknownKeyError(f'{place}: {name} takes no argument {key!r}{hint}')


@contextlib.contextmanager
def config_errors(cfg: Mapping[str, Any]) -> Iterator[None]:
    """Around building from ``cfg``: a rejected config key becomes one line (:func:`rejected_key_error`)."""
    try:
        yield
    except TypeError as exc:
        error = rejected_key_error(exc, cfg)
        if error is None:
            raise
        raise error from exc


def one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_cli(main: Callable[[], object], debug: bool = False) -> int:
    """Run ``main``; an expected error becomes one line on stderr and exit status 2."""
    try:
        main()
    except (UserError, FileNotFoundError) as exc:  # FileNotFoundError: also mmengine's, for a missing config
        if debug:
            raise
        print(f'error: {one_line(exc)} (--debug shows the traceback)', file=sys.stderr)
        return EXIT_USER_ERROR
    return 0
