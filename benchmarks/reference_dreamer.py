"""A reference DreamerV3 on a viper env, beside viper's own: is our Dreamer the problem?

Runs the training loop of a public PyTorch DreamerV3 (NM512/dreamerv3-torch, a checkout you
pass with ``--ref``; nothing of it is copied here) on a viper env through a small adapter, at
the sizes of viper's ``agent.preset=proprio`` (so that a difference is the algorithm's, not the
budget's), on the env's own reward (``--reward task``) or on the VIPER reward of a workdir
(``--reward viper``, through :class:`viper.rewards.RewardWrapper`). Evaluation episodes always
score the env's own reward, so ``eval_return`` is the true return either way. The reference's
world model is instrumented to log what its reward head predicts (mean, std and correlation
with the replayed reward: does it ever predict anything but 0?).

    git clone https://github.com/NM512/dreamerv3-torch ../dreamerv3-torch
    pip install tensorboard ruamel.yaml          # what the reference imports
    python benchmarks/reference_dreamer.py --ref ../dreamerv3-torch --env lite:reach --reward task
    python benchmarks/reference_dreamer.py --ref ../dreamerv3-torch --reward viper \\
        --workdir runs/agent_returns/lite-reach/seed0        # a workdir `viper-run` fitted

Writes ``--out``/reference_dreamer-<env>-<reward>[-<tag>].json: the evaluation curve, the final
return beside the scripted expert's on the same env, the imagined rewards the reference logs and
the instrumented reward head's statistics. The reference's logdir (``--logdir``) keeps its
checkpoint (a rerun resumes; its loop runs one evaluation period past ``--steps``);
``--summarize`` only writes the record of what a logdir holds, e.g. of a run stopped early.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from viper.core.atomic import atomic_write_json
from viper.core.collect import make_policy, run_episode
from viper.core.components import make_env, resolve_env
from viper.core.errors import ConfigError

#: The reference's settings that match viper's ``agent.preset=proprio`` (deter 64, 2x64 MLPs,
#: 8x8 latents, batch 16x16, 0.5 updates per env step, model lr 3e-4, actor/critic 1e-4,
#: prefill 2500), on one env without action repeat, on a CPU; the rest are its own defaults
#: (``defaults`` + ``dmc_proprio`` of its configs.yaml: continuous actors by backpropagation
#: through the dynamics, discount 0.997, horizon 15, ...).
PROPRIO_SIZES: dict[str, Any] = {
    "dyn_deter": 64,
    "dyn_hidden": 64,
    "dyn_stoch": 8,
    "dyn_discrete": 8,
    "units": 64,
    "batch_size": 16,
    "batch_length": 16,
    "train_ratio": 128,
    "prefill": 2500,
    "model_lr": 3e-4,
    "actor.lr": 1e-4,
    "critic.lr": 1e-4,
    "encoder.mlp_layers": 2,
    "encoder.mlp_units": 64,
    "decoder.mlp_layers": 2,
    "decoder.mlp_units": 64,
    "envs": 1,
    "action_repeat": 1,
    "device": "cpu",
    "compile": False,
    "parallel": False,
    "video_pred_log": False,
    "eval_episode_num": 10,
}


def parse_values(items: list[str], flag: str) -> dict[str, Any]:
    """``["actor.lr=3e-5", "compile=false"]`` -> ``{"actor.lr": 3e-05, "compile": False}``
    (values read as JSON where they parse, ``true``/``false`` any case, else kept as text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, e.g. actor.lr=3e-5")
        text = text.strip()
        if text.lower() in ("true", "false"):
            out[key.strip()] = text.lower() == "true"
            continue
        try:
            out[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            out[key.strip()] = text
    return out


class OldGymEnv(gymnasium.Env):
    """A viper env behind the gym-0.22 interface the reference steps: ``reset() -> obs``,
    ``step({"action": a}) -> (obs, reward, done, info)``, with ``is_first``/``is_terminal`` in
    the observation, the discount in ``info`` and an ``id`` per episode (its replay's file
    name); only ``keys`` of the observation are passed on. viper's envs end their own episodes,
    so none of the reference's wrappers is needed."""

    metadata: dict[str, Any] = {}

    def __init__(self, env: gymnasium.Env, keys: tuple[str, ...], seed: int) -> None:
        missing = [k for k in keys if k not in env.observation_space.spaces]
        if missing:
            raise ConfigError(f"the env observes {sorted(env.observation_space.spaces)}, not {missing}")
        self.env, self.keys, self._seed = env, keys, seed
        self.observation_space = gymnasium.spaces.Dict({k: env.observation_space[k] for k in keys})
        self.action_space = env.action_space

    def _obs(self, obs: dict, first: bool, terminal: bool) -> dict:
        return {**{k: obs[k] for k in self.keys}, "is_first": first, "is_terminal": terminal}

    def reset(self) -> dict:  # type: ignore[override]
        self.id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex}"
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None  # later episodes continue the env's own random stream
        return self._obs(obs, True, False)

    def step(self, action: dict) -> tuple[dict, float, bool, dict]:  # type: ignore[override]
        obs, reward, terminated, truncated, _ = self.env.step(np.asarray(action["action"], np.float32))
        info = {"discount": np.array(0.0 if terminated else 1.0, np.float32)}
        return self._obs(obs, False, bool(terminated)), float(reward), bool(terminated or truncated), info


def import_reference(ref: Path) -> Any:
    """The reference's ``dreamer`` module (its folder goes first on ``sys.path``)."""
    if not (ref / "dreamer.py").is_file() or not (ref / "configs.yaml").is_file():
        raise ConfigError(
            f"--ref {ref}: expected a checkout of NM512/dreamerv3-torch (dreamer.py, configs.yaml); "
            "git clone https://github.com/NM512/dreamerv3-torch"
        )
    if "gym" not in sys.modules:
        try:
            import gym  # noqa: F401
        except ImportError:  # its wrappers only use gym.Wrapper and gym.spaces
            sys.modules["gym"] = gymnasium
    sys.path.insert(0, str(ref))
    try:
        import dreamer
    except ImportError as error:
        raise ConfigError(
            f"--ref {ref}: the reference does not import ({error}); pip install tensorboard ruamel.yaml"
        ) from error
    return dreamer


def _numbers(node: Any) -> Any:
    """Exponent literals (``1e6``, ``3e-5``) as floats, as the reference's YAML 1.2 reads them."""
    if isinstance(node, dict):
        return {k: _numbers(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_numbers(v) for v in node]
    if isinstance(node, str):
        try:
            return float(node) if "e" in node.lower() and node.lower().lstrip("+-")[:1].isdigit() else node
        except ValueError:
            return node
    return node


def reference_config(ref: Path, overrides: dict[str, Any]) -> argparse.Namespace:
    """Its ``defaults`` + ``dmc_proprio`` sections, then ``overrides`` (dotted keys reach into
    its nested sections: ``actor.lr``)."""
    import yaml  # PyYAML (a dependency of flax); YAML 1.1 reads 3e-5 as text, see _numbers

    configs = _numbers(yaml.safe_load((ref / "configs.yaml").read_text()))
    merged: dict[str, Any] = {}
    for name in ("defaults", "dmc_proprio"):
        for key, value in configs[name].items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key].update(value)
            else:
                merged[key] = value
    for dotted, value in overrides.items():
        *parents, key = dotted.split(".")
        section = merged
        for parent in parents:
            if not isinstance(section.get(parent), dict):
                raise ConfigError(f"--set {dotted}: the reference has no section {parent!r}")
            section = section[parent]
        if key not in section:
            raise ConfigError(f"--set {dotted}: the reference's configs.yaml has no such key")
        section[key] = value
    for key in ("steps", "eval_every", "log_every", "prefill", "time_limit", "batch_size", "batch_length"):
        merged[key] = int(merged[key])
    return argparse.Namespace(**merged)


def instrument_reward_head(models: Any, path: Path, every: int = 100) -> None:
    """Wrap the reference world model's update: after each, take the reward head's prediction
    statistics on that batch beside the replayed rewards; every ``every`` updates append their
    mean to ``path`` (JSON lines, so a stopped run keeps what it measured)."""
    import torch

    train, pending = models.WorldModel._train, []

    def logged(self: Any, data: dict) -> Any:
        post, context, metrics = train(self, data)
        with torch.no_grad():
            pred = self.heads["reward"](context["feat"]).mode().flatten().float().numpy()
        target = np.asarray(data["reward"], np.float32).flatten()
        corr = float(np.corrcoef(pred, target)[0, 1]) if pred.std() > 1e-8 and target.std() > 1e-8 else 0.0
        pending.append((float(pred.mean()), float(pred.std()), corr, float(target.std())))
        if len(pending) == every:
            mean = np.mean(pending, 0)
            line = dict(zip(("pred_mean", "pred_std", "corr", "target_std"), np.round(mean, 4).tolist()))
            with path.open("a") as log:
                log.write(json.dumps({"updates": every, **line}) + "\n")
            pending.clear()
        return post, context, metrics

    models.WorldModel._train = logged


def summarize(logdir: Path) -> dict[str, Any]:
    """What a reference logdir holds: the evaluation curve, the imagined rewards its own
    metrics log (the reward head's predictions on imagined states) and the instrumented
    reward-head statistics, one row per tenth of the updates."""
    metrics = logdir / "metrics.jsonl"
    if not metrics.is_file():
        raise ConfigError(f"{metrics}: missing; the reference has not logged in this --logdir yet")
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    curve = [(int(r["step"]), float(r["eval_return"])) for r in rows if "eval_return" in r]
    imagined = [
        {"step": int(r["step"]), **{k: round(float(r[f"imag_reward_{k}"]), 4) for k in ("mean", "std", "max")}}
        for r in rows
        if "imag_reward_mean" in r
    ]
    head_file = logdir / "reward_head.jsonl"
    head_rows = [json.loads(line) for line in head_file.read_text().splitlines()] if head_file.is_file() else []
    chunk = max(1, len(head_rows) // 10)
    head = [
        {k: round(float(np.mean([h[k] for h in head_rows[i : i + chunk]])), 4) for k in head_rows[0] if k != "updates"}
        | {"updates": sum(h["updates"] for h in head_rows[: i + chunk])}
        for i in range(0, len(head_rows), chunk)
    ]
    return {"curve": curve, "imagined_reward": imagined, "reward_head": head}


def expert_return(env_name: str, episodes: int, seed: int) -> float:
    """The suite's scripted expert's mean true return over ``episodes`` episodes (a fixed stream)."""
    name, suite = resolve_env(env_name)
    env = make_env(name)
    expert = make_policy("expert", suite, name.task, env)
    return float(np.mean([run_episode(env, expert, seed=seed + 10_000 + i).episode_return for i in range(episodes)]))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", type=Path, required=True, help="checkout of NM512/dreamerv3-torch")
    parser.add_argument("--env", default="lite:reach")
    parser.add_argument("--reward", choices=("task", "viper"), default="task")
    parser.add_argument(
        "--workdir", type=Path, help="viper workdir with a fitted tokenizer and video model (--reward viper)"
    )
    parser.add_argument(
        "--reward-set", action="append", default=[], help="reward option X=V (RewardWrapper's **options)"
    )
    parser.add_argument("--steps", type=int, default=25_000)
    parser.add_argument("--eval-every", type=int, default=2_500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--obs", default="state", help="observation keys the reference encodes (comma-separated)")
    parser.add_argument("--set", action="append", default=[], help="reference config KEY=VALUE (dotted for sections)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", default="")
    parser.add_argument("--logdir", type=Path, help="the reference's logdir (default runs/reference_dreamer/<name>)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument(
        "--summarize",
        action="store_true",
        help="train nothing: write the record of what --logdir holds (a stopped run)",
    )
    args = parser.parse_args(argv)

    resolve_env(args.env)  # a bad --env stops here, before the reference is imported
    if args.reward == "viper" and (args.workdir is None or not args.workdir.is_dir()):
        raise ConfigError(
            f"--reward viper needs --workdir: a viper workdir with a fitted video model (got {args.workdir})"
        )
    overrides = {**PROPRIO_SIZES, "steps": args.steps, "eval_every": args.eval_every, "log_every": 1000}
    overrides["seed"] = args.seed
    overrides.update(parse_values(args.set, "--set"))
    reward_options = parse_values(args.reward_set, "--reward-set")
    name = f"{args.env.replace(':', '-')}-{args.reward}" + (f"-{args.tag}" if args.tag else "")
    logdir = args.logdir or Path("runs/reference_dreamer") / f"{name}-seed{args.seed}"
    overrides["logdir"] = str(logdir)

    dreamer = import_reference(args.ref.resolve())
    import models
    import networks
    import torch

    if str(overrides["device"]) == "cpu":  # its MLP defaults to device="cuda" where a caller omits it
        init = networks.MLP.__init__
        networks.MLP.__init__ = lambda self, *a, **kw: init(self, *a, **{**kw, "device": "cpu"})

    torch.set_num_threads(args.threads)
    config = reference_config(args.ref.resolve(), overrides)
    keys = tuple(dict.fromkeys([k for k in args.obs.split(",") if k] + ["image"]))  # its preprocessing reads image

    def make(config: Any, mode: str, index: int) -> Any:
        seed = args.seed + 1000 * (mode != "train") + index
        env = make_env(args.env, seed=seed)
        if mode == "train" and args.reward == "viper":
            from viper.rewards import RewardWrapper

            env = RewardWrapper(env, "viper", args.workdir, task=args.env, seed=args.seed, **reward_options)
        return OldGymEnv(env, keys, seed)

    dreamer.make_env = make
    instrument_reward_head(models, logdir / "reward_head.jsonl")
    started = time.time()
    if not args.summarize:
        os.environ.setdefault("MUJOCO_GL", "egl")
        logdir.mkdir(parents=True, exist_ok=True)
        dreamer.main(config)
    seconds = time.time() - started

    summary = summarize(logdir)
    curve = summary["curve"]
    expert = expert_return(args.env, 10, args.seed)
    result = {
        "reference": "NM512/dreamerv3-torch",
        "env": args.env,
        "reward": args.reward,
        "reward_options": reward_options,
        "workdir": str(args.workdir) if args.workdir else None,
        "seed": args.seed,
        "steps": args.steps,
        "settings": {k: v for k, v in overrides.items() if k != "logdir"},
        "eval_return": curve[-1][1] if curve else None,
        "eval_return_best": max(r for _, r in curve) if curve else None,
        "expert_return": expert,
        **summary,
        "seconds": None if args.summarize else round(seconds, 1),
    }
    final = result["eval_return"]
    print(f"reference DreamerV3 on {args.env} ({args.reward} reward), eval return by step: {curve}")
    if final is not None:
        print(f"final {final:.1f} = {100 * final / expert:.0f}% of the expert's {expert:.1f}")
    print("imagined reward (its reward head on imagined states):", summary["imagined_reward"][-3:])
    print("reward head on replayed batches (per tenth of the updates):", summary["reward_head"])
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out / f"reference_dreamer-{name}.json", result)
    return result


if __name__ == "__main__":
    try:
        main()
    except ConfigError as error:  # bad input: one line naming the option, no traceback
        raise SystemExit(f"error: {error}") from None
