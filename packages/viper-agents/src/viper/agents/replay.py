"""A replay buffer of env steps kept per env in time order (numpy, framework-free).

Each :meth:`Replay.add` appends one step of every env: the observation keys, the action the
agent chose at that observation, the reward into it, ``is_first``/``is_last``/``is_terminal``
(:class:`viper.core.protocols.EnvStep`'s convention). Storage is ``[num_envs, time, ...]``,
grows by doubling up to ``capacity // num_envs`` steps per env and then overwrites the oldest.

DreamerV3 samples fixed-length sequences (:meth:`sample_sequences`; episodes may change inside
one, marked by ``is_first``); DrQ-v2 samples n-step transitions (:meth:`sample_nstep`) that
never cross into the next episode and bootstrap through time limits but not terminations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import atomic_save_npz, atomic_write_json, load_npz, read_json
from viper.core.errors import ContractError, WorkdirError

FLAGS = ("is_first", "is_last", "is_terminal")


class Replay:
    """Steps of ``num_envs`` envs; ``spec`` maps each stored key to ``(shape, dtype)`` per step."""

    def __init__(self, spec: dict[str, tuple[tuple[int, ...], Any]], capacity: int) -> None:
        if capacity < 1:
            raise ContractError(f"replay capacity {capacity}: expected at least 1")
        self.spec = {**spec, "reward": ((), np.float32), **{f: ((), np.bool_) for f in FLAGS}}
        self.capacity = int(capacity)
        self.num_envs = 0
        self.total = 0  # steps ever added per env
        self.data: dict[str, np.ndarray] = {}

    # -- adding ----------------------------------------------------------------------------

    @property
    def per_env(self) -> int:
        return max(1, self.capacity // max(1, self.num_envs))

    @property
    def size(self) -> int:
        """Steps currently stored per env."""
        return min(self.total, self.per_env)

    def __len__(self) -> int:
        return self.size * self.num_envs

    def add(self, step: dict[str, np.ndarray]) -> None:
        """Append one step of every env (each value batched over envs)."""
        n = len(step["is_first"])
        if not self.num_envs:
            self.num_envs = n
            alloc = min(self.per_env, 1024)
            self.data = {k: np.zeros((n, alloc, *shape), dtype) for k, (shape, dtype) in self.spec.items()}
        if n != self.num_envs:
            raise ContractError(
                f"replay: got a step of {n} envs but the buffer holds {self.num_envs}; keep loop.num_envs fixed for a run"
            )
        alloc = next(iter(self.data.values())).shape[1]
        if self.total == alloc and alloc < self.per_env:  # grow by doubling until the capacity
            grown = min(self.per_env, 2 * alloc)
            for key, value in self.data.items():
                bigger = np.zeros((n, grown, *value.shape[2:]), value.dtype)
                bigger[:, :alloc] = value
                self.data[key] = bigger
        index = self.total % self.per_env
        for key, value in self.data.items():
            if key not in step:
                raise ContractError(f"replay: step lacks {key!r}")
            value[:, index] = step[key]
        self.total += 1

    def _physical(self, logical: np.ndarray) -> np.ndarray:
        """Logical index (0 = oldest stored step) -> storage index."""
        return (self.total - self.size + logical) % self.per_env

    # -- sampling --------------------------------------------------------------------------

    def sample_sequences(self, batch: int, length: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``batch`` windows of ``length`` consecutive steps of one env each: ``[batch, length, ...]``."""
        if self.size < length:
            raise ContractError(f"replay: holds {self.size} steps per env, fewer than a sequence of {length}")
        envs = rng.integers(0, self.num_envs, batch)
        starts = rng.integers(0, self.size - length + 1, batch)
        index = self._physical(starts[:, None] + np.arange(length)[None])
        return {key: value[envs[:, None], index] for key, value in self.data.items()}

    def sample_nstep(
        self, batch: int, n: int, discount: float, rng: np.random.Generator, keys: tuple[str, ...]
    ) -> dict[str, np.ndarray]:
        """Transitions ``(obs_t, action_t, reward, discount, next_obs)`` where reward sums up to
        ``n`` discounted rewards inside the episode and ``discount = gamma^m (1 - terminal)``
        for the ``m <= n`` steps taken; ``keys`` are the observation keys to return."""
        if self.size < 2:
            raise ContractError("replay: needs at least two steps per env to sample transitions")
        envs, starts = self._valid_starts(batch, rng)
        reward = np.zeros(batch, np.float32)
        steps = np.zeros(batch, np.int64)
        alive = np.ones(batch, bool)
        terminal = np.zeros(batch, bool)
        for k in range(1, n + 1):
            logical = starts + k
            inside = logical <= self.size - 1
            index = self._physical(np.minimum(logical, self.size - 1))
            alive &= inside & ~self.data["is_first"][envs, index]
            reward += np.where(alive, discount ** (k - 1) * self.data["reward"][envs, index], 0.0).astype(np.float32)
            steps = np.where(alive, k, steps)
            terminal = np.where(alive, self.data["is_terminal"][envs, index], terminal)
            alive &= ~self.data["is_last"][envs, index]
        now = self._physical(starts)
        then = self._physical(starts + steps)
        out = {f"obs/{k}": self.data[k][envs, now] for k in keys}
        out.update({f"next/{k}": self.data[k][envs, then] for k in keys})
        out["action"] = self.data["action"][envs, now]
        out["reward"] = reward
        out["discount"] = (discount**steps * ~terminal).astype(np.float32)
        return out

    def _valid_starts(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Steps that have a next step in the same episode (rejection sampling)."""
        envs_out, starts_out = [], []
        found = 0
        for _ in range(100):
            envs = rng.integers(0, self.num_envs, 2 * batch)
            starts = rng.integers(0, self.size - 1, 2 * batch)
            now, nxt = self._physical(starts), self._physical(starts + 1)
            ok = ~self.data["is_last"][envs, now] & ~self.data["is_first"][envs, nxt]
            envs_out.append(envs[ok])
            starts_out.append(starts[ok])
            found += int(ok.sum())
            if found >= batch:
                return np.concatenate(envs_out)[:batch], np.concatenate(starts_out)[:batch]
        raise ContractError("replay: found no transitions inside an episode (every stored step ends one)")

    # -- persistence -----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """``replay.npz`` (the stored steps in time order, no pickle) and ``replay.json``."""
        directory.mkdir(parents=True, exist_ok=True)
        order = self._physical(np.arange(self.size))
        arrays = {key: value[:, order] for key, value in self.data.items()}
        atomic_save_npz(directory / "replay.npz", arrays, compress=False)
        atomic_write_json(
            directory / "replay.json",
            {"num_envs": self.num_envs, "total": self.total, "capacity": self.capacity, "keys": sorted(self.spec)},
        )

    def load(self, directory: Path) -> None:
        try:
            meta = read_json(directory / "replay.json")
            arrays = load_npz(directory / "replay.npz")
        except (OSError, ValueError, KeyError) as exc:
            raise WorkdirError(f"{directory}: corrupt or missing replay ({exc})") from exc
        if sorted(arrays) != sorted(self.spec):
            raise WorkdirError(f"{directory}: replay holds {sorted(arrays)} but this agent stores {sorted(self.spec)}")
        num_envs, total = int(meta["num_envs"]), int(meta["total"])
        for key, (shape, dtype) in self.spec.items():
            value = arrays[key]
            if value.dtype != np.dtype(dtype) or tuple(value.shape[2:]) != tuple(shape) or value.shape[0] != num_envs:
                raise WorkdirError(
                    f"{directory}: replay {key!r} is {value.dtype}{list(value.shape)}, expected "
                    f"{np.dtype(dtype)}[{num_envs}, T, {', '.join(map(str, shape))}]"
                )
        self.num_envs, self.total = num_envs, total
        size = next(iter(arrays.values())).shape[1] if arrays else 0
        if size != self.size:
            raise WorkdirError(f"{directory}: replay has {size} steps per env but its metadata says {self.size}")
        alloc = min(self.per_env, max(1024, size))
        self.data = {}
        for key, value in arrays.items():
            buffer = np.zeros((num_envs, alloc, *value.shape[2:]), value.dtype)
            buffer[:, self._physical(np.arange(size))] = value
            self.data[key] = buffer
