"""Does lite:push's reward pay for the first half of a push?

An agent that never touches the block sees none of what a push reward pays for at the end; what
it can climb is whatever the reward pays for on the way. This rolls out, on the score stage's
reset seeds, the expert, doing nothing, a random policy and two scripted halves of the expert's
motion: ``to-block`` walks around the block as the expert does and stops where the expert
would start pushing; ``to-ring`` walks onto the goal ring without the block and stops. Each is scored with the
workdir's reward and placed between random (0) and the expert (1), as ``stillness.py`` does: a
reward that leads to the block rates ``to-block`` above doing nothing and above ``to-ring``.

    MUJOCO_GL=egl python benchmarks/push_partial.py --workdir runs/push/seed0 \\
        [--episodes 5] [--set normalize=symlog] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stillness import add_arguments, fitted_reward, model_stages, report, rollouts, summarize  # noqa: E402

from viper.core.collect import run_episode  # noqa: E402
from viper.core.stages.score import score_episodes  # noqa: E402
from viper.envs.lite.push import PushExpert, lined_up, push_frame, walk  # noqa: E402

ENV = "lite:push"


class GoTo:
    """``block``: the expert's own walk around the block, stopped where it would start pushing
    (behind the block and lined up with the goal); ``ring``: straight onto the goal, then still."""

    def __init__(self, env: Any, target: str) -> None:
        self.env, self.target = env, target
        self.expert = PushExpert(env)

    def reset(self) -> None:
        self.expert.reset()

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        state = obs["state"]
        if self.target == "ring":
            return walk(state[0:2], state[4:6], self.env.speed)
        _, _, _, along, lateral = push_frame(state)
        at_block = float(np.linalg.norm(state[0:2] - state[2:4])) < self.env.PUSHER + self.env.BLOCK + 0.05
        if lined_up(along, lateral) and at_block:
            return np.zeros(2, np.float32)
        return self.expert.act(obs)


def scripted(suite: Any, task: str, target: str, episodes: int, seed: int, size: int) -> list[dict[str, Any]]:
    """``episodes`` episodes of :class:`GoTo` on the score stage's reset seeds."""
    env = suite.make(task, size=size)
    try:
        out = []
        for i in range(episodes):
            episode = run_episode(env, GoTo(env, target), seed=seed + 10_000 + i)
            out.append({"policy": f"to-{target}", "frames": episode.frames, "task_reward": episode.task_reward})
        return out
    finally:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args()
    name, suite, wd, reward, options = fitted_reward(args, ENV)
    episodes = rollouts(suite, name, args.episodes, args.seed, args.size)
    for target in ("block", "ring"):
        episodes += scripted(suite, name.task, target, args.episodes, args.seed, args.size)
    values = score_episodes({args.reward: reward}, episodes, 8, progress=True)[args.reward]
    rows = summarize(episodes, values, args.discounts)

    record = {"env": ENV, "reward": args.reward, "options": options, "stages": model_stages(wd)}
    report(args, ENV, rows, record)


if __name__ == "__main__":
    main()
