"""``loop.backend=ray``: env workers as Ray actors, the reward stream in one more actor.

The training loop does not change. :class:`RayVectorEnv` looks like a gymnasium vector env with
NextStep autoreset to the :class:`~viper.core.loop.driver.Driver`: worker ``w`` (a Ray actor,
on this machine or anywhere in the cluster) holds a contiguous slice of the envs in its own
``SyncVectorEnv`` and returns their frames each step; env ``i`` gets the seed the local loop gives
env ``i``, so frames, true rewards and chosen rewards equal the local loop's. The reward stream
runs in one :class:`RewardActor` (on a GPU when the cluster has one) and scores all workers'
frames in one batch per step; evaluation's streams (``loop.eval_reward``) run there too, on the
same reward object. The agent acts, learns and evaluates in the driver process.

A worker that dies (``RayActorError``) is replaced by a new actor whose envs are reset with fresh
seeds; the step reports them in ``info[RESTARTED]``, so the driver marks them ``is_first``, the
reward stream forgets their history and their unfinished episodes never reach the episode
stats. The reward actor holds every env's history and is not replaced: its death ends the run,
which resumes from the last checkpoint.

Ray moves arguments between processes with (cloud)pickle; that is Ray's transport between the
processes of one run, never a file this project loads. Ray is imported only here, on first use.
"""

from __future__ import annotations

import logging
import os
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from viper.core.errors import ConfigError
from viper.core.loop.driver import RESTARTED
from viper.core.protocols import Reward, StepBatch

INSTALL_HINT = "pip install 'viper-core[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"loop.backend=ray (--backend ray) needs Ray, which is not installed: {INSTALL_HINT}"
        ) from exc
    return ray


def worker_slices(num_envs: int, num_workers: int) -> list[slice]:
    """Contiguous slices of ``range(num_envs)``, one per worker, sizes differing by at most one."""
    if not 1 <= num_workers <= num_envs:
        raise ConfigError(f"--num-workers {num_workers}: expected an integer from 1 to loop.num_envs ({num_envs})")
    sizes = [num_envs // num_workers + (w < num_envs % num_workers) for w in range(num_workers)]
    starts = np.cumsum([0, *sizes])
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


class RayBackend:
    """A connection to Ray for one training run; :meth:`close` shuts down what it started."""

    def __init__(self, address: str = "") -> None:
        self.ray = import_ray()
        self.started = not self.ray.is_initialized()
        if self.started:
            # Ray's own default would join any cluster `ray start` once recorded on this machine,
            # and hang on a stale record; an empty address starts an instance for this run.
            address = address or os.environ.get("RAY_ADDRESS") or "local"
            self.ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
        self.gpus = float(self.ray.cluster_resources().get("GPU", 0))

    def vector_env(self, env_fn: Callable[[], Any], num_envs: int, num_workers: int) -> RayVectorEnv:
        return RayVectorEnv(self.ray, env_fn, num_envs, num_workers)

    def reward(self, reward: Reward) -> RemoteReward:
        """``reward`` moved into one actor (one GPU if the cluster has one); its streams step there."""
        actor = self.ray.remote(RewardActor).options(num_gpus=1 if self.gpus >= 1 else 0)
        try:
            handle = actor.remote(reward)
        except Exception as exc:  # noqa: BLE001 -- Ray's serialization errors have many types
            raise ConfigError(
                f"the reward {type(reward).__name__} cannot be sent to the Ray reward actor "
                f"({type(exc).__name__}: {exc}); use loop.backend=local"
            ) from exc
        return RemoteReward(self.ray, handle, frozenset(getattr(reward, "needs", ())))

    def close(self) -> None:
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()


class EnvWorker:
    """One Ray actor's slice of the envs: a ``SyncVectorEnv`` with NextStep autoreset."""

    def __init__(self, env_fn: Callable[[], Any], num_envs: int) -> None:
        from viper.core.loop.train import make_vector_env

        self.envs = make_vector_env(env_fn, num_envs, parallel=False)

    def spaces(self) -> tuple[Any, Any]:
        return self.envs.single_observation_space, self.envs.single_action_space

    def reset(self, seeds: list[int | None]) -> tuple[Any, dict[str, Any]]:
        return self.envs.reset(seed=seeds)

    def step(self, actions: np.ndarray) -> tuple[Any, ...]:
        return self.envs.step(actions)

    def close(self) -> None:
        self.envs.close()


class RayVectorEnv:
    """``num_envs`` envs stepped by ``num_workers`` :class:`EnvWorker` actors, presented as one
    gymnasium vector env with NextStep autoreset (observations and infos concatenated in env
    order); dead workers are replaced (module docstring)."""

    metadata = {"autoreset_mode": "NextStep"}

    def __init__(self, ray: Any, env_fn: Callable[[], Any], num_envs: int, num_workers: int) -> None:
        self.ray, self.env_fn, self.num_envs = ray, env_fn, num_envs
        self.slices = worker_slices(num_envs, num_workers)
        self.actor = ray.remote(EnvWorker)
        self.workers = [self._start(s) for s in self.slices]
        self.single_observation_space, self.single_action_space = ray.get(self.workers[0].spaces.remote())
        self.restarts = 0
        self.rng = np.random.default_rng()

    def _start(self, part: slice) -> Any:
        return self.actor.remote(self.env_fn, part.stop - part.start)

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[Any, dict[str, Any]]:
        seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed] * self.num_envs
        # Replacement workers draw their seeds from these, so a run stays a function of its seeds.
        self.rng = np.random.default_rng([s for s in seeds if s is not None] or None)
        refs = [w.reset.remote(seeds[s]) for w, s in zip(self.workers, self.slices)]
        parts = [self._get(w, ref) or self._replace(w) for w, ref in enumerate(refs)]
        return concat([p[0] for p in parts]), merge_infos(
            [(p[-1], s.stop - s.start) for p, s in zip(parts, self.slices)]
        )

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = np.asarray(actions)
        refs = [w.step.remote(actions[s]) for w, s in zip(self.workers, self.slices)]
        parts = []
        for w, ref in enumerate(refs):
            result = self._get(w, ref)
            if result is None:
                n = self.slices[w].stop - self.slices[w].start
                obs, info = self._replace(w)
                result = (obs, np.zeros(n), np.zeros(n, bool), np.zeros(n, bool), info)
            parts.append(result)
        sizes = [s.stop - s.start for s in self.slices]
        return (
            concat([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
            np.concatenate([p[3] for p in parts]),
            merge_infos([(p[4], n) for p, n in zip(parts, sizes)]),
        )

    def _get(self, worker: int, ref: Any) -> Any:
        """The worker's result, or None when the worker died."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            part = self.slices[worker]
            warnings.warn(
                f"Ray env worker {worker} (envs {part.start}-{part.stop - 1}) died ({type(exc).__name__}); "
                f"a new worker resets those envs and their unfinished episodes are dropped "
                f"(replacement {self.restarts + 1} of this run)",
                stacklevel=3,
            )
            return None

    def _replace(self, worker: int) -> tuple[Any, dict[str, Any]]:
        """Start a new worker for slot ``worker``; its envs' first frames, marked ``RESTARTED``."""
        part = self.slices[worker]
        n = part.stop - part.start
        self.restarts += 1
        self._kill(self.workers[worker])
        self.workers[worker] = self._start(part)
        seeds = [int(s) for s in self.rng.integers(0, 2**31 - 1, n)]
        obs, info = self.ray.get(self.workers[worker].reset.remote(seeds))
        return obs, {**info, RESTARTED: np.ones(n, bool), f"_{RESTARTED}": np.ones(n, bool)}

    def _kill(self, worker: Any) -> None:
        try:
            self.ray.kill(worker, no_restart=True)
        except Exception:  # noqa: BLE001, S110 -- already gone is what we want
            pass

    def close(self, **_: Any) -> None:
        for worker in self.workers:
            try:
                self.ray.get(worker.close.remote(), timeout=30)
            except Exception:  # noqa: BLE001, S110 -- a dead worker has nothing left to close
                pass
            self._kill(worker)
        self.workers = []


class RewardActor:
    """The run's reward in one Ray actor. Every stream opened on it steps here, batched over its
    envs: training's, and evaluation's with ``loop.eval_reward``, so a reward that learns or
    normalises online (``rnd``, ``normalize=running``) is shared by both as in the local loop."""

    def __init__(self, reward: Reward) -> None:
        from viper.core.frameworks import configure_frameworks

        configure_frameworks()
        self.reward = reward
        self.streams: dict[int, Any] = {}
        self.opened = 0

    def open(self, num_envs: int, task_ids: np.ndarray | None) -> int:
        self.opened += 1
        self.streams[self.opened] = self.reward.stream(num_envs, task_ids)
        return self.opened

    def step(self, key: int, batch: StepBatch) -> np.ndarray:
        return np.asarray(self.streams[key].step(batch))

    def metrics(self, key: int) -> dict[str, float]:
        from viper.core.loop.window import stream_metrics

        return stream_metrics(self.streams[key])

    def forget(self, key: int) -> None:
        self.streams.pop(key, None)

    def relabel(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return np.asarray(self.reward.relabel(*args, **kwargs))


class RemoteReward:
    """The driver's handle on the :class:`RewardActor`: a reward whose streams run in the actor."""

    def __init__(self, ray: Any, actor: Any, needs: frozenset[str]) -> None:
        self.ray, self.actor, self.needs = ray, actor, needs

    def stream(self, num_envs: int, task_ids: np.ndarray | None = None) -> RemoteStream:
        ids = None if task_ids is None else np.asarray(task_ids, np.int32)
        return RemoteStream(self.ray, self.actor, self.ray.get(self.actor.open.remote(num_envs, ids)))

    def relabel(self, *args: Any, **kwargs: Any) -> np.ndarray:
        return self.ray.get(self.actor.relabel.remote(*args, **kwargs))

    def close(self) -> None:
        """End the actor now (otherwise it ends with the Ray connection)."""
        self.ray.kill(self.actor, no_restart=True)


class RemoteStream:
    """One stream opened on the :class:`RewardActor`, stepped like a local one; the actor drops
    it when this handle is garbage collected."""

    def __init__(self, ray: Any, actor: Any, key: int) -> None:
        self.ray, self.actor, self.key = ray, actor, key
        weakref.finalize(self, _forget, actor, key)

    def step(self, batch: StepBatch) -> np.ndarray:
        return self.ray.get(self.actor.step.remote(self.key, batch))

    def metrics(self) -> dict[str, float]:
        return self.ray.get(self.actor.metrics.remote(self.key))


def _forget(actor: Any, key: int) -> None:
    try:
        actor.forget.remote(key)
    except Exception:  # noqa: BLE001, S110 -- the actor or Ray is gone: nothing left to free
        pass


def concat(parts: list[Any]) -> Any:
    """Batched observations (arrays or dicts of arrays) of consecutive env slices, in order."""
    if isinstance(parts[0], dict):
        return {key: concat([p[key] for p in parts]) for key in parts[0]}
    return np.concatenate(parts)


def merge_infos(parts: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """Gymnasium vector infos (``info[key]`` per env, ``info["_" + key]`` whether each env set it)
    of consecutive env slices of sizes ``n``, as one env's info would hold them."""
    keys = list(dict.fromkeys(k for info, _ in parts for k in info if not k.startswith("_")))
    out: dict[str, Any] = {}
    for key in keys:
        sample = next(info[key] for info, _ in parts if key in info)
        if isinstance(sample, dict):
            out[key] = merge_infos([(info.get(key, {}), n) for info, n in parts])
        else:
            dtype = np.asarray(sample).dtype
            out[key] = np.concatenate(
                [np.asarray(info[key]) if key in info else np.zeros(n, dtype) for info, n in parts]
            )
        out[f"_{key}"] = np.concatenate(
            [
                np.asarray(info.get(f"_{key}", np.ones(n, bool)), bool) if key in info else np.zeros(n, bool)
                for info, n in parts
            ]
        )
    return out
