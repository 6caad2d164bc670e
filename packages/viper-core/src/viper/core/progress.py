"""Progress bars (tqdm) that stay quiet when output is not a terminal unless asked."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


def progress_enabled(default: bool | None = None) -> bool:
    env = os.environ.get("VIPER_PROGRESS")
    if env is not None:
        return env.lower() not in ("0", "false", "no", "off")
    return True if default is None else default


def progress_bar(iterable: Iterable[T] | None = None, *, enabled: bool | None = None, **kwargs: Any) -> Any:
    """A tqdm bar on stderr; disabled (but still iterating) when not enabled."""
    from tqdm.auto import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("mininterval", 0.5)
    # Off a terminal (CI logs) print sparse lines rather than carriage-return spam.
    if not sys.stderr.isatty():
        kwargs.setdefault("mininterval", 10.0)
    return tqdm(iterable, disable=not progress_enabled(enabled), file=sys.stderr, **kwargs)
