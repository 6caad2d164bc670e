"""The bookkeeping every conformance check shares: named rules, checked in order.

A check is a sequence of rules, each a short name (``frames-uint8``, ``stream-equals-log-prob``)
and a body that raises when the component breaks it. :class:`Rulebook` runs the bodies in order,
keeps the names of those that held (for ``viper-run check-plugin``'s table) and turns the first
failure into one :class:`~viper.core.errors.ContractError` naming the component and the rule.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from viper.core.errors import ContractError, MissingDependencyError, PluginImportError


class RuleFailure(ContractError):
    """A component broke the named rule of its kind's contract."""

    def __init__(self, component: str, rule: str, message: str, passed: list[str]) -> None:
        super().__init__(f"{component}: rule {rule!r} broken: {message}")
        self.component, self.rule, self.detail, self.passed = component, rule, message, list(passed)


class Broken(Exception):
    """Raised by :func:`expect` and friends: the rule's own words, reported without a type name."""


class Rulebook:
    """Runs the rules of one check on one component; see the module docstring."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.passed: list[str] = []

    @contextlib.contextmanager
    def rule(self, name: str) -> Iterator[None]:
        """The body raises (anything but a missing dependency) when ``name`` is broken."""
        try:
            yield
        except RuleFailure:
            raise
        except Broken as exc:
            raise RuleFailure(self.component, name, str(exc), self.passed) from None
        except (MissingDependencyError, PluginImportError):
            raise  # not the component's fault: the caller reports it as "not checked"
        except Exception as exc:  # a crash inside a rule breaks that rule, whatever it raised
            raise RuleFailure(self.component, name, _one_line(exc), self.passed) from exc
        self.passed.append(name)


def expect(condition: Any, message: str) -> None:
    """Fail the current rule with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Broken(message)


def describe(value: Any) -> str:
    """``uint8[2, 16, 16, 3]`` for arrays, the type name otherwise."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype}{list(value.shape)}"
    return type(value).__name__


def expect_array(value: Any, what: str, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` must be a numpy array of exactly ``dtype`` and ``shape``."""
    want = f"{np.dtype(dtype)}{list(shape)}"
    expect(isinstance(value, np.ndarray), f"{what}: expected a numpy array {want}, got {describe(value)}")
    expect(value.dtype == dtype and value.shape == tuple(shape), f"{what}: expected {want}, got {describe(value)}")
    return value


def expect_finite(values: np.ndarray, what: str) -> None:
    flat = np.asarray(values, np.float64).reshape(-1)
    bad = np.flatnonzero(~np.isfinite(flat))
    if bad.size:
        raise Broken(f"{what}: non-finite value {flat[bad[0]]} at flat index {int(bad[0])}")


def expect_close(actual: np.ndarray, expected: np.ndarray, what: str, *, rtol: float, atol: float) -> None:
    """``actual`` equals ``expected`` within float tolerance; the message shows the worst entry."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    expect(actual.shape == expected.shape, f"{what}: shapes differ ({list(actual.shape)} vs {list(expected.shape)})")
    error = np.abs(actual - expected) - (atol + rtol * np.abs(expected))
    if error.size and error.max() > 0:
        index = tuple(int(i) for i in np.unravel_index(int(error.argmax()), error.shape))
        raise Broken(f"{what}: {actual[index]:.6g} != {expected[index]:.6g} at index {index}")


def expect_raises(
    errors: type[BaseException] | tuple[type[BaseException], ...], what: str, fn: Any, *args: Any, **kwargs: Any
) -> BaseException:
    """``fn(*args, **kwargs)`` must raise one of ``errors``; returns the exception."""
    names = " or ".join(e.__name__ for e in (errors if isinstance(errors, tuple) else (errors,)))
    try:
        fn(*args, **kwargs)
    except errors as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the wrong error is what the rule reports
        raise Broken(f"{what}: expected {names}, got {type(exc).__name__}: {_one_line(exc)}") from exc
    raise Broken(f"{what}: expected {names}, nothing was raised")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
