"""A table-driven base for env suites: a suite declares its tasks and a typed ``Config``.

:class:`viper.core.protocols.EnvSuite` asks for ``tasks``/``make``/``expert``/``image_mask``;
:class:`TableSuite` writes all four from a table of :class:`Task` rows, so a suite states only
what differs::

    @dataclasses.dataclass
    class Config(Options):
        SECTION: ClassVar[str] = "env"
        episode_length: int | None = option(None, ge=1)
        '''Steps per episode; None keeps the task's own limit.'''

    class MySuite(TableSuite):
        name = "mine"
        Config = Config
        TASKS = {"reach": Task(make=lambda config, size, seed: Reach(size, **vars(config)),
                               expert=ReachExpert)}

``make(task, seed=, size=, **options)`` turns ``options`` into ``Config`` (strings from ``--set
env.FIELD=VALUE`` are converted to the field types, constraints are checked in
:mod:`viper.core.config`'s one message style), so ``viper-run --help`` and ``--set env.`` cover
a suite's options like any other component's. A suite whose task list is only known at run
time (installed ROMs, a simulator's registry) overrides :meth:`TableSuite.table`; one with a
richer unknown-task message overrides :meth:`TableSuite.unknown_task`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from viper.core.config import build_config
from viper.core.errors import ConfigError, ContractError

if TYPE_CHECKING:
    import gymnasium

    from viper.core.protocols import Policy


@dataclasses.dataclass(frozen=True)
class Task:
    """One row of a suite's table."""

    make: Callable[[Any, int, int | None], gymnasium.Env]
    """``make(config, size, seed)``: a new env for this task (the suite resets it with ``seed``
    afterwards). A ``ValueError`` becomes a :class:`ConfigError` naming the task."""
    expert: Callable[[gymnasium.Env], Policy] | None = None
    """Builds the scripted expert from the unwrapped env; None when the task has none."""
    mask: Callable[[int], np.ndarray | None] | None = None
    """``mask(size)``: ``bool[size, size]``, False where the video model must not look (a
    score); None when the whole frame is informative."""
    terminates: bool = False
    """True when an episode can end early because the agent failed (a pole falls, game over):
    rewards summed over steps must then make staying alive worth more than ending (the ``viper``
    reward's ``offset``). An episode that only ends at its time limit or on success: False."""


class TableSuite:
    """An :class:`~viper.core.protocols.EnvSuite` from a table of tasks and a ``Config``."""

    name: ClassVar[str]
    Config: ClassVar[type]
    """The suite's options: a dataclass with a docstring and declared constraints per field."""
    TASKS: ClassVar[Mapping[str, Task]] = {}
    """The table; :meth:`table` returns it unless a suite builds its table at run time."""

    def table(self) -> Mapping[str, Task]:
        return self.TASKS

    def unknown_task(self, task: str) -> str:
        """The message for a task name not in the table (a string: the caller raises)."""
        return f"{self.name}: unknown task {task!r}; tasks: {', '.join(self.table())}"

    def task(self, task: str) -> Task:
        """The table row of ``task``; ConfigError listing the tasks if there is none."""
        row = self.table().get(task)
        if row is None:
            raise ConfigError(self.unknown_task(task))
        return row

    def options(self, task: str, options: Mapping[str, Any]) -> Any:
        """``options`` as this suite's ``Config`` (converted and validated)."""
        fields = [f.name for f in dataclasses.fields(self.Config) if f.init]
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise ConfigError(
                f"{self.name}:{task}: unknown option {unknown[0]!r}; options: {', '.join(['size', *fields])}"
            )
        return build_config(self.Config, options, where="--set env")

    # -- the EnvSuite protocol -------------------------------------------------------------

    def tasks(self) -> list[str]:
        return list(self.table())

    def expert_tasks(self) -> list[str]:
        """The tasks that have a scripted expert (the ones whose expert videos need no agent)."""
        return [name for name, row in self.table().items() if row.expert is not None]

    def make(self, task: str, *, seed: int | None = None, size: int = 64, **options: Any) -> gymnasium.Env:
        row = self.task(task)
        config = self.options(task, options)
        try:
            env = row.make(config, size, seed)
        except ValueError as exc:
            raise ConfigError(f"{self.name}:{task}: {exc}") from exc
        if seed is not None:
            env.reset(seed=seed)
        return env

    def expert(self, task: str, env: gymnasium.Env) -> Policy | None:
        row = self.task(task)
        return None if row.expert is None else row.expert(env.unwrapped)

    def image_mask(self, task: str, size: int = 64) -> np.ndarray | None:
        row = self.task(task)
        return None if row.mask is None else row.mask(size)

    def terminates(self, task: str) -> bool:
        """Whether ``task``'s episodes can end early on failure (:attr:`Task.terminates`)."""
        return self.task(task).terminates


def config_values(config: Any) -> dict[str, Any]:
    """A Config's fields as keyword arguments (no deep copy, unlike ``dataclasses.asdict``)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}


def continuous_action(name: str, action: Any, space: Any, *, done: bool) -> np.ndarray:
    """A continuous env's guard at the top of ``step``: refuse a step after the episode ended and
    a non-finite action (both naming the env ``name``), then reshape the action to ``space`` and
    clip it into its bounds (agents may overshoot by rounding)."""
    if done:
        raise ContractError(f"{name}: step() after the episode ended; call reset() first")
    action = np.asarray(action, np.float32).reshape(space.shape)
    if not np.all(np.isfinite(action)):
        raise ContractError(f"{name}: action {action} is not finite")
    return np.clip(action, space.low, space.high)
