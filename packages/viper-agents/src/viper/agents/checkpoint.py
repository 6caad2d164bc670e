"""Agent checkpoints in formats that cannot run code on load.

A checkpoint folder holds ``weights.safetensors`` (every module's parameters and buffers),
``optim.safetensors`` (every optimiser's tensors; its hyper-parameters go in the JSON),
``rng.safetensors`` (torch generator states), ``agent.json`` (format, agent name, config,
counters, numpy generator states) and ``replay/`` (see :class:`viper.agents.replay.Replay`).
No pickle anywhere, including ``torch.load``. Loading checks the format, the config and every
tensor's name and shape, and names the first mismatch in a :class:`WorkdirError`.
:class:`viper.agents.base.TorchAgent` decides what goes in.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from viper.core.atomic import atomic_write_bytes, atomic_write_json, read_header
from viper.core.errors import WorkdirError

FORMAT = "viper-torch-agent"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class AgentState:
    """Everything an agent checkpoint holds but its counters and replay, each under a stable
    name (names prefix the tensors in the files)."""

    agent: str
    """The component name; a checkpoint loads only into the same agent."""
    config: dict[str, Any]
    """The agent's config as a dict; a checkpoint loads only with an equal one."""
    modules: dict[str, torch.nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generators: dict[str, torch.Generator]
    rngs: dict[str, np.random.Generator]
    config_defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Each config field's declared default: a checkpoint written before a field existed loads
    when ours holds that default (an option added later does not orphan older runs)."""


def save_state(directory: Path, state: AgentState, counters: dict[str, Any]) -> None:
    """Write ``state`` and ``counters`` into ``directory`` (replay excluded)."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = {f"{name}/{key}": v for name, module in state.modules.items() for key, v in module.state_dict().items()}
    atomic_write_bytes(directory / "weights.safetensors", st_save(_contiguous(weights)))
    optim_tensors: dict[str, torch.Tensor] = {}
    optim_meta: dict[str, Any] = {}
    for name, opt in state.optimizers.items():
        saved = opt.state_dict()
        scalars: dict[str, Any] = {}
        for pid, entries in saved["state"].items():
            for key, value in entries.items():
                if torch.is_tensor(value):
                    optim_tensors[f"{name}/{pid}/{key}"] = value
                else:
                    scalars[f"{pid}/{key}"] = value
        optim_meta[name] = {"param_groups": saved["param_groups"], "scalars": scalars}
    atomic_write_bytes(directory / "optim.safetensors", st_save(_contiguous(optim_tensors)))
    rng_tensors = {name: gen.get_state() for name, gen in state.generators.items()}
    atomic_write_bytes(directory / "rng.safetensors", st_save(_contiguous(rng_tensors)))
    atomic_write_json(
        directory / "agent.json",
        {
            "format": FORMAT,
            "version": VERSION,
            "agent": state.agent,
            "config": state.config,
            "optimizers": optim_meta,
            "numpy_rngs": {name: rng.bit_generator.state for name, rng in state.rngs.items()},
            "counters": counters,
        },
    )


def load_state(directory: Path, state: AgentState, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restore into ``state`` everything :func:`save_state` wrote; returns the counters. Nothing
    is modified unless every file reads and matches. ``meta``: what :func:`check_meta` already
    returned for this directory (read and checked here when None)."""
    modules, optimizers, generators, rngs = state.modules, state.optimizers, state.generators, state.rngs
    if meta is None:
        meta = check_meta(directory, state.agent, state.config, state.config_defaults)
    meta_path = directory / "agent.json"
    weights = _read(directory / "weights.safetensors")
    optim_tensors = _read(directory / "optim.safetensors")
    rng_tensors = _read(directory / "rng.safetensors")

    # Check everything before changing anything.
    states = _module_states(directory / "weights.safetensors", weights, modules)
    optim_states = {}
    for name, opt in optimizers.items():
        info = meta.get("optimizers", {}).get(name)
        if info is None:
            raise WorkdirError(f"{meta_path}: no state for optimizer {name!r}")
        optim_states[name] = _optimizer_state(directory, name, opt, info, optim_tensors)
    for name in generators:
        if name not in rng_tensors:
            raise WorkdirError(f"{directory / 'rng.safetensors'}: no state for generator {name!r}")
    for name in rngs:
        if name not in meta.get("numpy_rngs", {}):
            raise WorkdirError(f"{meta_path}: no state for numpy generator {name!r}")

    try:
        for name, module in modules.items():
            module.load_state_dict(states[name], strict=True)
        for name, opt in optimizers.items():
            device = opt.param_groups[0]["params"][0].device
            saved = optim_states[name]
            saved["state"] = {
                pid: {k: (v.to(device) if torch.is_tensor(v) and k != "step" else v) for k, v in entry.items()}
                for pid, entry in saved["state"].items()
            }
            opt.load_state_dict(saved)
        for name, gen in generators.items():
            gen.set_state(rng_tensors[name])
        for name, rng in rngs.items():
            rng.bit_generator.state = meta["numpy_rngs"][name]
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise WorkdirError(f"{directory}: checkpoint does not fit this agent ({exc})") from exc
    return dict(meta.get("counters", {}))


def load_weights(directory: Path, state: AgentState) -> None:
    """Restore only ``state``'s module weights from ``directory`` (what acting needs): the
    optimiser, generator and replay files are not read, so a policy loads in a fraction of the
    time and memory of a resumable agent. Nothing changes unless every tensor matches."""
    check_meta(directory, state.agent, state.config, state.config_defaults)
    path = directory / "weights.safetensors"
    states = _module_states(path, _read(path), state.modules)
    try:
        for name, module in state.modules.items():
            module.load_state_dict(states[name], strict=True)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise WorkdirError(f"{directory}: checkpoint does not fit this agent ({exc})") from exc


def _module_states(
    path: Path, weights: dict[str, torch.Tensor], modules: dict[str, torch.nn.Module]
) -> dict[str, dict[str, torch.Tensor]]:
    """Each module's state dict from ``weights``, checked against the module's own."""
    states = {}
    for name, module in modules.items():
        got = {k[len(name) + 1 :]: v for k, v in weights.items() if k.startswith(f"{name}/")}
        _check_tensors(module.state_dict(), got, f"{path} ({name})")
        states[name] = got
    extra = sorted(k for k in weights if k.split("/", 1)[0] not in modules)
    if extra:
        raise WorkdirError(f"{path}: unexpected tensor {extra[0]!r}")
    return states


def _optimizer_state(
    directory: Path, name: str, opt: torch.optim.Optimizer, info: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """Optimiser ``name``'s state dict from its tensors and JSON scalars, checked against its
    parameters (Adam's moments must match each parameter's shape)."""
    entries: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        owner, pid, field = key.split("/", 2)
        if owner == name:
            entries.setdefault(int(pid), {})[field] = value
    for key, value in info["scalars"].items():
        pid, field = key.split("/", 1)
        entries.setdefault(int(pid), {})[field] = value
    params = [p for group in opt.param_groups for p in group["params"]]
    for pid, entry in entries.items():
        if pid >= len(params):
            raise WorkdirError(
                f"{directory}: optimizer {name!r} has state for {pid + 1}+ parameters, expected {len(params)}"
            )
        for field in ("exp_avg", "exp_avg_sq"):
            if field in entry and tuple(entry[field].shape) != tuple(params[pid].shape):
                raise WorkdirError(
                    f"{directory}: optimizer {name!r} state {pid}/{field} has shape {tuple(entry[field].shape)}, "
                    f"parameter has {tuple(params[pid].shape)}"
                )
    return {"state": entries, "param_groups": info["param_groups"]}


def check_meta(
    directory: Path, agent: str, config: dict[str, Any], defaults: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Read ``agent.json`` and check it was written by ``agent`` with ``config``; a field the
    checkpoint lacks counts as its value in ``defaults`` (fields added since it was written)."""
    meta_path = directory / "agent.json"
    meta = read_header(meta_path, FORMAT, VERSION, what=f"a {FORMAT} v{VERSION} checkpoint", kind="agent checkpoint")
    if meta.get("agent") != agent:
        raise WorkdirError(f"{meta_path}: checkpoint of agent {meta.get('agent')!r}, not {agent!r}")
    ours = json.loads(json.dumps(config, default=str))
    theirs = dict(meta.get("config") or {})
    known = json.loads(json.dumps(defaults or {}, default=str))
    theirs |= {k: known[k] for k in set(ours) - set(theirs) if k in known}
    if theirs != ours:
        diff = sorted(k for k in set(ours) | set(theirs) if theirs.get(k) != ours.get(k))
        raise WorkdirError(f"{meta_path}: checkpoint made with another {agent} config (differs in {', '.join(diff)})")
    return meta


def _read(path: Path) -> dict[str, torch.Tensor]:
    try:
        return st_load(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 -- safetensors raises its own error types
        raise WorkdirError(f"{path}: missing or corrupt ({type(exc).__name__}: {exc})") from exc


def _check_tensors(expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], where: str) -> None:
    missing = sorted(set(expected) - set(got))
    if missing:
        raise WorkdirError(f"{where}: missing tensor {missing[0]!r}; the checkpoint was made with another config")
    extra = sorted(set(got) - set(expected))
    if extra:
        raise WorkdirError(f"{where}: unexpected tensor {extra[0]!r}; the checkpoint was made with another config")
    for key, value in expected.items():
        if tuple(got[key].shape) != tuple(value.shape):
            raise WorkdirError(
                f"{where}: {key!r} has shape {tuple(got[key].shape)}, this agent expects {tuple(value.shape)}"
            )


def _contiguous(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses views and shared storage; copies are cheap next to a checkpoint write.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
