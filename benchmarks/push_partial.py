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
from stillness import model_stages, rollouts, summarize  # noqa: E402

from viper.core.atomic import atomic_write_json  # noqa: E402
from viper.core.collect import run_episode  # noqa: E402
from viper.core.components import resolve_env  # noqa: E402
from viper.core.plugins import get_host  # noqa: E402
from viper.core.rewarding import build_reward, expert_dataset, reward_context  # noqa: E402
from viper.core.stages.score import score_episodes  # noqa: E402
from viper.core.workdir import Workdir  # noqa: E402
from viper.envs.lite.push import PushExpert  # noqa: E402

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
        pusher, block, goal = state[0:2], state[2:4], state[4:6]
        if self.target == "block":
            toward = (goal - block) / max(float(np.linalg.norm(goal - block)), 1e-9)
            rel = pusher - block
            along, lateral = float(rel @ toward), float(rel @ np.array([-toward[1], toward[0]]))
            contact = self.env.PUSHER + self.env.BLOCK
            # PushExpert's test for "push now", once it is about to touch the block
            if along < -0.5 * contact and abs(lateral) < 0.03 and float(np.linalg.norm(rel)) < contact + 0.05:
                return np.zeros(2, np.float32)
            return self.expert.act(obs)
        move = goal - pusher
        norm = float(np.linalg.norm(move))
        if norm < 1e-3:
            return np.zeros(2, np.float32)
        return (move / norm * min(1.0, norm / self.env.speed)).astype(np.float32)


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
    parser.add_argument("--workdir", type=Path, required=True, help="a lite:push workdir with a fitted reward")
    parser.add_argument("--episodes", type=int, default=5, help="episodes per policy (default 5)")
    parser.add_argument("--reward", default="viper", help="reward component to score (default viper)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="an option of the reward")
    parser.add_argument("--discounts", type=float, nargs="+", default=[0.99, 0.997], help="discounts to compare at")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=64, help="frame size the reward was fitted on (default 64)")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    if args.episodes < 1:
        raise SystemExit(f"--episodes {args.episodes}: expected at least 1")
    if not args.workdir.is_dir():
        raise SystemExit(f"--workdir {args.workdir}: not a folder")
    if any("=" not in item for item in args.set) or not all(0 < g <= 1 for g in args.discounts):
        raise SystemExit("--set: expected FIELD=VALUE; --discounts: expected values in (0, 1]")
    options = dict(item.split("=", 1) for item in args.set)

    host = get_host()
    name, suite = resolve_env(ENV, host)
    wd = Workdir(args.workdir)
    context = reward_context(
        wd, suite, name.task, size=args.size, seed=args.seed, host=host, expert_data=expert_dataset(wd, None)
    )
    reward = build_reward(args.reward, context, options, host)  # before any rollout: fails fast
    episodes = rollouts(suite, name, args.episodes, args.seed, args.size)
    for target in ("block", "ring"):
        episodes += scripted(suite, name.task, target, args.episodes, args.seed, args.size)
    values = score_episodes({args.reward: reward}, episodes, 8, progress=True)[args.reward]
    rows = summarize(episodes, values, args.discounts)

    print(f"\n{ENV}, {args.workdir}: {' '.join([args.reward, *args.set])} return; position 0 = random, 1 = expert\n")
    gammas = "".join(f" discounted, {g:g} |" for g in args.discounts)
    print(f"| policy | episodes | true return | per step | position |{gammas}")
    print("|---|---:|---:|---:|---:|" + "---:|" * len(args.discounts))
    for policy, row in rows.items():
        discounted = "".join(f" {v:.0f} |" for v in row["discounted"].values())
        print(
            f"| {policy} | {row['episodes']} | {row['true_return']:.1f} | {row['reward_per_step']:.2f} "
            f"| {row['position']:.2f} |{discounted}"
        )
    if args.json:
        record = {"env": ENV, "workdir": str(args.workdir), "reward": args.reward, "options": options}
        atomic_write_json(args.json, record | {"stages": model_stages(wd), "rows": rows})
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
