"""The loop's checkpoint: ``checkpoint/`` = ``loop.json`` (counters, generator state, identity)
+ ``agent/`` (whatever ``agent.save`` writes).

A checkpoint is swapped in atomically, so a kill at any moment leaves the previous one; a
corrupt one, or one of another run (another identity: agent, config, env, reward, spaces), is
refused and left on disk untouched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from viper.core.atomic import _json_default, atomic_directory, atomic_write_json, read_header
from viper.core.errors import ViperError, WorkdirError
from viper.core.loop.config import LoopConfig
from viper.core.protocols import Agent

CHECKPOINT_FORMAT = "viper-agent-checkpoint"
CHECKPOINT_VERSION = 1
#: The folder beside ``checkpoint/`` that ``loop.keep_best`` fills with the best-evaluated agent.
BEST_CHECKPOINT = "checkpoint-best"


@dataclasses.dataclass
class LoopState:
    """The loop's counters and generator, all JSON (saved in ``loop.json``)."""

    env_steps: int = 0
    updates: int = 0
    episodes: int = 0
    evals: int = 0
    next_log: int = 0
    next_eval: int = 0
    next_checkpoint: int = 0
    saved_step: int | None = None
    last_eval: float = float("nan")
    last_eval_step: int = -1
    best_eval: float = float("-inf")
    recent: list[float] = dataclasses.field(default_factory=list)
    rng: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def fresh(cls, config: LoopConfig) -> LoopState:
        # The loop's generator is independent of the agent's (which seeds from the same number).
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([config.seed, 1])))
        return cls(
            next_log=config.log_every,
            next_eval=config.eval_every,
            next_checkpoint=config.checkpoint_every,
            rng=rng.bit_generator.state,
        )


def json_safe(value: Any) -> Any:
    """Round-trip through JSON semantics (tuples -> lists, numpy -> python, inf/nan kept)."""
    return json.loads(json.dumps(value, default=_json_default))


def describe_space(space: Any) -> Any:
    """A JSON description of a gymnasium space (for checkpoint identity)."""
    import gymnasium as gym

    if isinstance(space, gym.spaces.Dict):
        return {k: describe_space(v) for k, v in space.spaces.items()}
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype)}
    return {"type": type(space).__name__, "shape": list(space.shape or ())}


def save_checkpoint(path: Path, agent: Agent, state: LoopState, identity: dict[str, Any]) -> None:
    """Swap in a new checkpoint atomically: a kill at any moment leaves the previous one."""
    state.saved_step = state.env_steps
    with atomic_directory(path) as tmp:
        (tmp / "agent").mkdir()
        agent.save(tmp / "agent")
        record = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "identity": identity,
            "state": dataclasses.asdict(state),
            "time": time.time(),
        }
        atomic_write_json(tmp / "loop.json", json_safe(record))


def restore_checkpoint(path: Path, agent: Agent, identity: dict[str, Any]) -> LoopState:
    """Load ``path`` into ``agent``; a corrupt or foreign checkpoint raises WorkdirError and is
    left untouched (nothing is written before training resumes)."""
    meta_path = path / "loop.json"
    record = read_header(
        meta_path,
        CHECKPOINT_FORMAT,
        CHECKPOINT_VERSION,
        what="an agent checkpoint",
        kind="checkpoint",
        hint=f"; move {path} away to start over",
    )
    theirs, ours = json_safe(record.get("identity")), json_safe(identity)
    if theirs != ours:
        keys = sorted(k for k in set(theirs or {}) | set(ours) if (theirs or {}).get(k) != ours.get(k))
        raise WorkdirError(
            f"{path}: checkpoint of another run (differs in {', '.join(keys) or 'identity'}); "
            f"refusing to resume from it -- move it away or use another --workdir"
        )
    try:
        fields = {f.name for f in dataclasses.fields(LoopState)}
        state = LoopState(**{k: v for k, v in record["state"].items() if k in fields})
        np.random.Generator(np.random.PCG64()).bit_generator.state = state.rng  # validates it
    except (KeyError, TypeError, ValueError) as exc:
        raise WorkdirError(f"{meta_path}: corrupt loop state ({exc}); move {path} away to start over") from exc
    try:
        agent.load(path / "agent")
    except ViperError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any failure to read means the files are bad
        raise WorkdirError(f"{path / 'agent'}: cannot restore the agent ({type(exc).__name__}: {exc})") from exc
    return state


def recover_checkpoint(path: Path) -> None:
    """Finish or undo a checkpoint swap interrupted by a kill (see ``atomic_directory``)."""
    olds = sorted(path.parent.glob(f".{path.name}.*.old"), key=lambda p: p.stat().st_mtime)
    if not path.exists() and olds:
        os.replace(olds[-1], path)  # killed between moving the old one aside and the new one in
        olds = olds[:-1]
    for leftover in [*olds, *path.parent.glob(f".{path.name}.*.tmp")]:
        shutil.rmtree(leftover, ignore_errors=True)


def resume(path: Path, agent: Agent, identity: dict[str, Any], config: LoopConfig) -> tuple[LoopState, bool]:
    """The state to start from: the checkpoint at ``path`` (after finishing an interrupted
    swap) restored into ``agent``, or a fresh state; and whether it resumed."""
    recover_checkpoint(path)
    if path.exists():
        return restore_checkpoint(path, agent, identity), True
    return LoopState.fresh(config), False
