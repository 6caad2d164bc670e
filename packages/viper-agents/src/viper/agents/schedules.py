"""Values that change over env steps (exploration noise, epsilon), written as option strings."""

from __future__ import annotations

import re
from collections.abc import Callable

from viper.core.errors import ConfigError

EXPECTED = "a number or linear(start,end,steps) with steps > 0"


def parse_schedule(text: str | float, option: str = "agent.std_schedule") -> Callable[[int], float]:
    """``"0.2"`` or ``"linear(1.0,0.1,500000)"`` -> a function of the env step; ``option`` names
    the ``--set`` option in the error."""
    try:
        value = float(text)
        return lambda step: value
    except (TypeError, ValueError):
        pass
    match = re.fullmatch(r"\s*linear\(\s*([-\d.e]+)\s*,\s*([-\d.e]+)\s*,\s*([\d.e]+)\s*\)\s*", str(text))
    if not match:
        raise ConfigError(f"--set {option}={text!r}: expected {EXPECTED}")
    start, end, duration = float(match[1]), float(match[2]), float(match[3])
    if duration <= 0:
        raise ConfigError(f"--set {option}={text!r}: steps must be > 0")
    return lambda step: start + (end - start) * min(1.0, step / duration)


def is_schedule(text: str | float) -> bool:
    """Whether :func:`parse_schedule` accepts ``text`` (an ``option(test=...)``)."""
    try:
        parse_schedule(text)
    except ConfigError:
        return False
    return True
