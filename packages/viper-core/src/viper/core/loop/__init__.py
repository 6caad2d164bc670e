"""The agent training loop: N environments in parallel, the user's reward, any agent.

Read in this order:

1. :mod:`~viper.core.loop.config` -- :class:`LoopConfig`, every knob with one docstring each;
2. :mod:`~viper.core.loop.train` -- :func:`train_agent`, the loop itself: step envs, compute the
   chosen reward for all envs in one batch, hand the step to the agent, train it at its replay
   ratio, evaluate, log, checkpoint;
3. :mod:`~viper.core.loop.driver` -- the :class:`Driver` training and evaluation share: the step
   transition, ``StepBatch``/``EnvStep``, episode sums, the boundary checks;
4. :mod:`~viper.core.loop.evaluate` -- :func:`evaluate`, episodes scored by the env's TRUE
   reward, with a video;
5. :mod:`~viper.core.loop.schedules` -- when to log, evaluate, checkpoint and train;
   :mod:`~viper.core.loop.window` -- what a log line holds;
6. :mod:`~viper.core.loop.checkpoint` -- loop state, save / restore / recover;
7. :mod:`~viper.core.loop.ray_backend` -- ``loop.backend=ray``: the envs in Ray actors presented
   as one vector env, the reward stream in one more actor (Ray imported only there).

Conventions (:class:`~viper.core.protocols.EnvStep`, DreamerV3's): ``reward[t]`` belongs to the
transition into ``obs[t]``; the first observation of an episode has ``is_first`` and reward 0.
gymnasium 1.x vector envs (``NextStep`` autoreset, the only mode the driver accepts) reset a
finished env on the *next* ``step`` call (ignoring that env's action), which is exactly the step
that carries ``is_first``. The agent sees only the reward the user chose; ``info["task_reward"]``
(the env's own reward; a reset's info may lack it) is summed for logging the true return and is
handed to the reward plugin, which only the ``task`` reward reads.

The ``agent`` workdir stage behind ``viper-run train`` and the pipeline is
:func:`viper.core.stages.agent.train_stage`. This package imports neither torch nor jax:
frameworks live in the agent and reward plugins (:mod:`viper.core.frameworks` sets them up).
"""

from __future__ import annotations

from typing import Any

from viper.core.frameworks import configure_frameworks
from viper.core.loop.checkpoint import LoopState, recover_checkpoint, restore_checkpoint, save_checkpoint
from viper.core.loop.config import LoopConfig
from viper.core.loop.driver import Driver, Episode
from viper.core.loop.evaluate import evaluate
from viper.core.loop.train import make_vector_env, train_agent

__all__ = [
    "Driver",
    "Episode",
    "LoopConfig",
    "LoopState",
    "configure_frameworks",
    "evaluate",
    "make_vector_env",
    "recover_checkpoint",
    "restore_checkpoint",
    "save_checkpoint",
    "train_agent",
    "train_stage",
]


def __getattr__(name: str) -> Any:
    # The agent stage imports this package, so it is loaded on first use rather than here.
    if name == "train_stage":
        from viper.core.stages.agent import train_stage

        return train_stage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
