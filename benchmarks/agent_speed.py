"""Agent speed on CPU: env steps/s and gradient updates/s, with the reward from ``task`` or VIPER.

For each agent configuration (``dreamer`` at the ``debug`` and the paper's ``dmc_vision`` sizes,
``drq`` with the ``cpu`` preset, all from 64x64 pixels of ``lite:reach``):

1. **collect**: the real training loop (:func:`viper.core.loop.train_agent`, ``--envs`` envs in
   this process) for ``--steps`` env steps with the agent still in its prefill phase (no
   gradient updates), once with the ``task`` reward and once with the ``viper`` reward streamed
   from random-weight ``vqgan`` + ``ar-transformer`` instances (their ``quick`` presets; speed
   does not depend on training). The loop's own timer splits the time into reward / act / env.
2. **update**: ``agent.train()`` called ``--updates`` times on the replay collected in (1).
3. **train**: the env steps/s the loop reaches at the agent's replay ratio,
   ``1 / (1/collect + updates_per_step/update)``.

Both reward variants run side by side in one process, so their ratio is meaningful even on a
busy machine (absolute figures are not: run it alone). Torch uses ``--threads`` threads.

    python benchmarks/agent_speed.py [--steps 200] [--envs 4] [--updates 5] [--threads 2]
        [--agents dreamer-debug dreamer-dmc_vision drq] [--out benchmarks/out/agent_speed.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from pathlib import Path

AGENTS = {
    "dreamer-debug": ("dreamer", {"preset": "debug", "obs_keys": ("image",)}),
    "dreamer-dmc_vision": ("dreamer", {"preset": "dmc_vision", "obs_keys": ("image",)}),
    "drq": ("drq", {"preset": "cpu", "obs_keys": ("image",)}),
}


def viper_reward(size: int):
    """The `viper` reward from random-weight quick-preset tokenizer and video model."""
    from viper.core.config import build_config
    from viper.core.protocols import RewardContext
    from viper.rewards.likelihood import ViperReward
    from viper.tokenizers.vqgan.config import PRESETS as TOKENIZER_PRESETS
    from viper.tokenizers.vqgan.config import Config as TokenizerConfig
    from viper.tokenizers.vqgan.model import VQGANTokenizer
    from viper.videomodels.artransformer.config import PRESETS as MODEL_PRESETS
    from viper.videomodels.artransformer.config import Config as ModelConfig
    from viper.videomodels.artransformer.model import ARTransformer

    tokenizer = VQGANTokenizer(build_config(TokenizerConfig, {**TOKENIZER_PRESETS["quick"], "image_size": size}))
    model = ARTransformer(build_config(ModelConfig, MODEL_PRESETS["quick"]))
    model.initialize(tokenizer.vocab_size, tokenizer.code_grid, ("reach",), seed=0)
    context = RewardContext(tasks=("reach",), image_size=(size, size))
    return ViperReward(None, context, tokenizer=tokenizer, video_model=model)


def task_reward():
    from viper.rewards.task import TaskReward

    return TaskReward()


def collect(agent_name: str, options: dict, reward, args, workdir: Path) -> tuple[object, dict]:
    """Run the loop in the agent's prefill phase; returns the agent and the timing split."""
    from viper.core.components import make_config, make_env
    from viper.core.loop import LoopConfig, train_agent
    from viper.core.metrics import read_metrics
    from viper.core.plugins import get_host
    from viper.core.workdir import Workdir

    host = get_host()
    big = 10**9  # prefill longer than the run: no gradient updates while collecting
    prefill_key = "prefill" if agent_name == "dreamer" else "seed_steps"
    config = make_config("agent", agent_name, {**options, prefill_key: big}, host)
    factory = host.load("agent", agent_name)
    agents = []

    def agent_fn(obs_space, act_space, seed):
        agents.append(factory(config, obs_space, act_space, seed))
        return agents[-1]

    wd = Workdir(workdir)
    stage = wd.stage("agent", {"bench": time.time()})
    ctx = stage.context(progress=False)
    loop = LoopConfig(
        steps=args.steps, num_envs=args.envs, parallel=False, eval_every=0, eval_initial=False,
        eval_episodes=1, video=False, log_every=args.steps, checkpoint_every=10**9, checkpoint_seconds=0,
    )  # fmt: skip
    env_fn = functools.partial(make_env, "lite:reach", size=args.size, episode_length=50)
    # A short warm-up run compiles the reward's jitted functions and warms torch.
    warm = LoopConfig(**{**loop.__dict__, "steps": 2 * args.envs})
    train_agent(warm, ctx, env_fn=env_fn, agent_fn=agent_fn, reward=reward)
    train_agent(loop, ctx, env_fn=env_fn, agent_fn=agent_fn, reward=reward)
    ctx.metrics.close()
    record = [r for r in read_metrics(wd.path / "metrics.jsonl", "agent") if "train/sps" in r][-1]
    seconds = {k: record.get(f"time/{k}_seconds", 0.0) for k in ("reward", "act", "env")}
    total = sum(seconds.values())
    return agents[-1], {"collect_sps": args.steps / total, **{f"{k}_share": v / total for k, v in seconds.items()}}


def updates_per_second(agent, count: int) -> float:
    # Training needs the real batch shape; the prefill only stopped the loop from calling it.
    if not agent.train():  # warm-up (allocations, first-call overheads)
        raise SystemExit("the agent did not train: collect more --steps per env than its batch length")
    start = time.perf_counter()
    for _ in range(count):
        agent.train()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument(
        "--steps", type=int, default=320, help="env steps collected per variant (>= 64 per env for dmc_vision batches)"
    )
    parser.add_argument("--envs", type=int, default=4, help="envs stepped together")
    parser.add_argument("--updates", type=int, default=5, help="timed agent.train() calls")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--size", type=int, default=64, help="frame size")
    parser.add_argument("--out", default="benchmarks/out/agent_speed.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    rewards = {"task": task_reward(), "viper": viper_reward(args.size)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.agents:
            agent_name, options = AGENTS[label]
            for reward_name, reward in rewards.items():
                agent, timing = collect(agent_name, dict(options), reward, args, Path(tmp) / f"{label}-{reward_name}")
                # dmc_vision's batch (16 x 64 steps) needs 64 steps per env: collect() gives steps/envs.
                ups = updates_per_second(agent, args.updates) if reward_name == "task" else rows[-1]["updates_per_s"]
                ratio = agent.updates_per_step
                train_sps = 1.0 / (1.0 / timing["collect_sps"] + ratio / ups)
                rows.append(
                    {"agent": label, "reward": reward_name, **timing, "updates_per_s": ups,
                     "updates_per_step": ratio, "train_sps": train_sps}
                )  # fmt: skip
                print(
                    f"{label:<20} {reward_name:<6} collect {timing['collect_sps']:8.1f} steps/s "
                    f"(reward {timing['reward_share']:5.1%}, act {timing['act_share']:5.1%}, env {timing['env_share']:5.1%})  "
                    f"updates {ups:7.2f}/s  x {ratio:.4g}/step  ->  train {train_sps:7.1f} steps/s",
                    flush=True,
                )
    print()
    print(
        f"{'agent':<20} {'task sps':>10} {'viper sps':>10} {'viper/task':>11} {'updates/s':>10} {'train sps (task / viper)':>26}"
    )
    for label in args.agents:
        task, viper = [r for r in rows if r["agent"] == label]
        print(
            f"{label:<20} {task['collect_sps']:10.1f} {viper['collect_sps']:10.1f} {viper['collect_sps'] / task['collect_sps']:11.2f} "
            f"{task['updates_per_s']:10.2f} {task['train_sps']:12.1f} / {viper['train_sps']:<10.1f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
