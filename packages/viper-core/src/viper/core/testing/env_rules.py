"""``check_env_suite(suite, task)``: what an env suite promises (:class:`~viper.core.protocols.EnvSuite`).

The loop accepts everything gymnasium allows (a reset ``info`` without a reward, either
autoreset mode); what it does require is the subset :data:`LOOP_RULES`, which
:func:`preflight_env` checks in milliseconds before any stage trains.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from viper.core.errors import ConfigError
from viper.core.testing.rules import Rulebook, describe, expect, expect_array, expect_raises

#: The rules the training loop depends on (checked by ``viper-run --check`` and at pipeline start).
LOOP_RULES = ("make", "observation-space", "frames-uint8", "reset-info", "step", "task-reward", "image-mask")


def check_env_suite(
    suite: Any,
    task: str,
    *,
    size: int = 64,
    seed: int = 0,
    steps: int = 16,
    options: Mapping[str, Any] | None = None,
    only: tuple[str, ...] | None = None,
) -> list[str]:
    """Check ``suite`` on ``task`` at ``size x size`` frames; returns the names of the rules that
    held, raises :class:`~viper.core.testing.rules.RuleFailure` (a ``ContractError``) at the
    first broken one. ``options`` go to ``suite.make``; ``steps`` bounds the expert's and the
    driver's rollouts; ``only`` limits the check to some rules (e.g. :data:`LOOP_RULES`)."""
    book = Rulebook(f"env suite {getattr(suite, 'name', type(suite).__name__)!r}, task {task!r}")
    wanted = (lambda rule: rule in only) if only is not None else (lambda rule: True)
    if wanted("tasks"):
        with book.rule("tasks"):
            tasks = suite.tasks()
            expect(
                isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks),
                f"tasks() must return a non-empty list of names, got {tasks!r}",
            )
            expect(task in tasks, f"{task!r} is not among tasks() = {tasks}")
    if wanted("unknown-task"):
        with book.rule("unknown-task"):
            expect_raises(ConfigError, "make('no-such-task')", suite.make, "no-such-task", size=size)
    with book.rule("make"):
        make = functools.partial(suite.make, task, size=size, **(options or {}))
        env = make(seed=seed)
        expect(
            callable(getattr(env, "reset", None)) and callable(getattr(env, "step", None)),
            f"make() must return a gymnasium.Env, got {describe(env)}",
        )
    try:
        _loop_rules(book, suite, env, task, size, seed, wanted)
        if wanted("seeding"):
            with book.rule("seeding"):
                _check_seeding(make, env, seed)
        if wanted("expert"):
            with book.rule("expert"):
                _check_expert(suite, env, task, size, seed, steps)
    finally:
        env.close()
    if wanted("driver"):
        with book.rule("driver"):
            _check_driver(make, seed, steps)
    return book.passed


def preflight_env(
    suite: Any, task: str, *, size: int = 64, seed: int = 0, options: Mapping[str, Any] | None = None
) -> list[str]:
    """The rules the loop depends on (:data:`LOOP_RULES`), checked before any stage trains."""
    return check_env_suite(suite, task, size=size, seed=seed, options=options, only=LOOP_RULES)


def _loop_rules(book: Rulebook, suite: Any, env: Any, task: str, size: int, seed: int, wanted: Any) -> None:
    with book.rule("observation-space"):
        _check_observation_space(env.observation_space, size)
    with book.rule("frames-uint8"):
        obs, info = env.reset(seed=seed)
        _check_observation(obs, size, "reset")
    with book.rule("reset-info"):
        expect(isinstance(info, dict), f"reset() must return (obs, info) with a dict info, got {describe(info)}")
        if "task_reward" in info:  # optional at reset; when given it must be a number
            expect(_is_finite_number(info["task_reward"]), f"reset info['task_reward'] = {info['task_reward']!r}")
    with book.rule("step"):
        result = env.step(env.action_space.sample())
        expect(
            isinstance(result, tuple) and len(result) == 5,
            "step() must return (obs, reward, terminated, truncated, info) as gymnasium 1.x does",
        )
        obs, reward, terminated, truncated, info = result
        _check_observation(obs, size, "step")
        expect(_is_finite_number(reward), f"step reward must be a finite number, got {reward!r}")
        for name, flag in (("terminated", terminated), ("truncated", truncated)):
            expect(isinstance(flag, (bool, np.bool_)), f"step {name} must be a bool, got {describe(flag)}")
        expect(isinstance(info, dict), f"step info must be a dict, got {describe(info)}")
    with book.rule("task-reward"):
        expect(
            "task_reward" in info,
            f"every step info must carry info['task_reward'] (the env's own reward); this one has keys {sorted(info)}",
        )
        value = info["task_reward"]
        expect(_is_finite_number(value), f"info['task_reward'] must be a finite number, got {value!r}")
        expect(
            math.isclose(float(value), float(reward), rel_tol=1e-5, abs_tol=1e-6),
            f"info['task_reward'] = {float(value)} differs from the returned reward {float(reward)}",
        )
    if wanted("image-mask"):
        with book.rule("image-mask"):
            mask = suite.image_mask(task, size)
            if mask is not None:
                expect_array(mask, f"image_mask({task!r}, {size})", np.bool_, (size, size))


def _check_observation_space(space: Any, size: int) -> None:
    import gymnasium as gym

    expect(
        isinstance(space, gym.spaces.Dict) and "image" in space.spaces,
        f"observation_space must be a Dict with an 'image' entry, got {space}",
    )
    image = space["image"]
    expect(
        isinstance(image, gym.spaces.Box) and image.dtype == np.uint8 and image.shape == (size, size, 3),
        f"observation_space['image'] must be Box(uint8, ({size}, {size}, 3)), got {image}",
    )
    if "state" in space.spaces:
        state = space["state"]
        expect(
            isinstance(state, gym.spaces.Box) and state.dtype == np.float32 and len(state.shape) == 1,
            f"observation_space['state'] must be a 1-D float32 Box, got {state}",
        )


def _check_observation(obs: Any, size: int, where: str) -> None:
    expect(isinstance(obs, dict) and "image" in obs, f"{where}: the observation must be a dict with 'image'")
    expect_array(obs["image"], f"{where}: obs['image']", np.uint8, (size, size, 3))
    if "state" in obs:
        state = obs["state"]
        expect(
            isinstance(state, np.ndarray) and state.dtype == np.float32 and state.ndim == 1,
            f"{where}: obs['state'] must be float32[n], got {describe(state)}",
        )
        expect(np.isfinite(state).all(), f"{where}: obs['state'] holds non-finite values")


def _check_seeding(make: Callable[..., Any], env: Any, seed: int) -> None:
    first = env.reset(seed=seed + 1)[0]
    other_env = make(seed=seed)
    try:
        again = other_env.reset(seed=seed + 1)[0]
    finally:
        other_env.close()
    for key in first:
        expect(
            np.array_equal(first[key], again[key]),
            f"two envs reset with seed {seed + 1} return different first obs[{key!r}]",
        )


def _check_expert(suite: Any, env: Any, task: str, size: int, seed: int, steps: int) -> None:
    expert = suite.expert(task, env)
    if expert is None:
        return
    expect(
        callable(getattr(expert, "reset", None)) and callable(getattr(expert, "act", None)),
        f"expert() must return None or a Policy with reset() and act(obs), got {describe(expert)}",
    )
    obs, _ = env.reset(seed=seed)
    expert.reset()
    for t in range(steps):
        action = expert.act(obs)
        expect(
            env.action_space.contains(_as_action(action, env.action_space)),
            f"expert step {t}: action {action!r} is outside the action space {env.action_space}",
        )
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
            expert.reset()


def _check_driver(make: Callable[..., Any], seed: int, steps: int) -> None:
    """A short rollout through the loop's own driver with random actions and the fake reward."""
    from viper.core.testing.driving import drive_random

    drive_random(make, steps=steps, seed=seed)


def _as_action(action: Any, space: Any) -> Any:
    if space.shape == ():
        return np.int64(np.asarray(action).reshape(-1)[0])
    return np.asarray(action, space.dtype).reshape(space.shape)


def _is_finite_number(value: Any) -> bool:
    try:
        return math.isfinite(float(np.asarray(value).reshape(())))
    except (TypeError, ValueError):
        return False
