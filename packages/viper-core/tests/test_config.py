from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

import pytest

from viper.core.config import (
    DistributedConfig,
    Options,
    Rule,
    apply_preset,
    build_config,
    config_hash,
    describe_options,
    field_docs,
    option,
    parse_assignments,
    presets,
    validate,
)
from viper.core.errors import ConfigError


@dataclasses.dataclass
class Cfg:
    depth: int = 2
    """How many layers."""
    lr: float = 1e-3
    """Learning rate."""
    use_ema: bool = True
    """Keep an EMA copy."""
    mults: tuple[int, ...] = (1, 2)
    """Channel multipliers."""
    mode: Literal["conditional", "joint"] = "conditional"
    """Reward mode."""
    path: str | None = None
    """Optional file."""


def test_strings_are_converted_to_field_types() -> None:
    cfg = build_config(
        Cfg,
        {"depth": "4", "lr": "3e-4", "use_ema": "false", "mults": "1,2,2,2", "mode": "joint", "path": "none"},
    )
    assert cfg == Cfg(depth=4, lr=3e-4, use_ema=False, mults=(1, 2, 2, 2), mode="joint", path=None)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"depht": "4"}, r"--set tokenizer\.depht: unknown option; valid options are depth, lr"),
        ({"depth": "four"}, r"--set tokenizer\.depth: expected an integer, got 'four'"),
        ({"depth": "2.5"}, r"expected an integer"),
        ({"use_ema": "maybe"}, r"expected true or false"),
        ({"mode": "other"}, r"expected one of 'conditional', 'joint'"),
    ],
)
def test_bad_options_name_the_option(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(Cfg, options, where="--set tokenizer")


def test_parse_assignments() -> None:
    assert parse_assignments(["tokenizer.depth=2", "agent.lr=1e-4", "tokenizer.x=a=b"]) == {
        "tokenizer": {"depth": "2", "x": "a=b"},
        "agent": {"lr": "1e-4"},
    }
    with pytest.raises(ConfigError, match="expected SECTION.FIELD=VALUE"):
        parse_assignments(["depth=2"])


def test_field_docs_and_hash() -> None:
    docs = field_docs(Cfg)
    assert docs["depth"] == "How many layers."
    assert set(docs) == {f.name for f in dataclasses.fields(Cfg)}
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


@dataclasses.dataclass
class Checked(Options):
    SECTION: ClassVar[str] = "loop"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"small": {"width": 8}, "big": {"width": 64}}
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("width", lambda c: c.width % c.heads == 0, "a multiple of heads ({heads})"),
    )

    preset: str = "small"
    """Sizes."""
    num_envs: int = option(1, ge=1)
    """Envs."""
    decay: float = option(0.5, ge=0, lt=1)
    """Decay."""
    rate: float = option(1.0, gt=0)
    """Rate."""
    spans: tuple[int, ...] = option((), ge=0)
    """Spans."""
    context: str = option("spawn", one_of=("spawn", "fork"))
    """Start method."""
    bins: int = option(255, test=lambda n: n >= 3 and n % 2 == 1, expected="an odd number >= 3")
    """Bins."""
    seed: int | None = option(None, ge=0)
    """Seed."""
    heads: int = 2
    """Heads."""
    width: int | None = None
    """Width (None: the preset's)."""


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_envs": 0}, "--set loop.num_envs=0: expected an integer >= 1"),
        ({"decay": 1.0}, r"--set loop.decay=1.0: expected a number in \[0, 1\)"),
        ({"rate": 0.0}, "--set loop.rate=0.0: expected a number > 0"),
        ({"spans": (1, -1)}, "--set loop.spans=1,-1: expected integers >= 0"),
        ({"context": "thread"}, "--set loop.context='thread': expected one of 'spawn', 'fork'"),
        ({"bins": 4}, "--set loop.bins=4: expected an odd number >= 3"),
        ({"seed": -1}, "--set loop.seed=-1: expected an integer >= 0"),
        ({"width": 9}, r"--set loop.width=9: expected a multiple of heads \(2\)"),
        ({"preset": "huge"}, "--set loop.preset='huge': expected one of 'small', 'big'"),
    ],
)
def test_declared_constraints_have_one_message_style(options, message) -> None:
    with pytest.raises(ConfigError, match=f"^{message}$"):
        Checked(**options)  # constructed in Python: validated too
    strings = {k: ",".join(map(str, v)) if isinstance(v, tuple) else str(v) for k, v in options.items()}
    with pytest.raises(ConfigError, match=f"^{message}$"):
        build_config(Checked, strings, where="--set loop")


def test_preset_field_fills_only_unset_fields_and_sequences_become_tuples() -> None:
    assert Checked().width == 8 and Checked(preset="big").width == 64
    assert Checked(preset="big", width=4).width == 4
    assert Checked(spans="1,2").spans == (1, 2) and Checked(spans=[3]).spans == (3,)
    assert apply_preset(Checked, "big", {"heads": 4}) == {"width": 64, "heads": 4}
    assert presets(Checked) == Checked.PRESETS and presets(Cfg) == {}
    with pytest.raises(ConfigError, match="^--preset 'nope': expected one of 'small', 'big'$"):
        apply_preset(Checked, "nope", where="--")


@dataclasses.dataclass
class Flags:
    steps: int | None = option(None, ge=1)
    """Agent env steps."""
    rewards: tuple[str, ...] = option(("viper",), flag="reward", test=lambda r: len(r) > 0, expected="a reward")
    """Rewards, one per --reward flag."""
    beta: float | None = option(None, gt=0)
    """Bonus weight."""


def test_flags_are_worded_as_flags_and_plain_dataclasses_are_checked_by_build_config() -> None:
    with pytest.raises(ConfigError, match="^--steps -5: expected an integer >= 1$"):
        validate(Flags(steps=-5), "--")
    assert validate(Flags(steps=None, beta=0.5), "--").beta == 0.5
    with pytest.raises(ConfigError, match="^--reward : expected a reward$"):
        validate(Flags(rewards=()), "--")
    with pytest.raises(ConfigError, match="^--set x.rewards=: expected a reward$"):
        validate(Flags(rewards=()), "--set x")
    with pytest.raises(ConfigError, match="^--set x.beta=0.0: expected a number > 0$"):
        build_config(Flags, {"beta": "0"}, where="--set x")


@dataclasses.dataclass
class JaxThing(DistributedConfig, Options):
    SECTION: ClassVar[str] = "tokenizer"
    depth: int = option(1, ge=1)
    """Depth."""


def test_distributed_settings_stay_flat_options() -> None:
    thing = build_config(JaxThing, {"num_processes": "2", "process_id": "1", "coordinator_address": "h:1"})
    assert thing.distributed() == DistributedConfig("h:1", 2, 1)
    assert set(field_docs(JaxThing)) == {"coordinator_address", "num_processes", "process_id", "depth"}
    with pytest.raises(ConfigError, match="^--set tokenizer.num_processes=0: expected an integer >= 1$"):
        JaxThing(num_processes=0)


def test_a_literal_type_is_its_own_choice_constraint() -> None:
    with pytest.raises(ConfigError, match="^--set reward.mode='other': expected one of 'conditional', 'joint'$"):
        validate(Cfg(mode="other"), "--set reward")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps", "-5"], "--steps -5: expected an integer >= 0"),
        (["--episodes", "0"], "--episodes 0: expected an integer >= 1"),
        (["--beta", "0", "--explore", "rnd"], "--beta 0.0: expected a number > 0"),
        (["--seed", "-1"], "--seed -1: expected an integer >= 0"),
    ],
)
def test_top_level_flags_are_checked_before_anything_runs(flags, message, capsys) -> None:
    from viper.core import cli

    assert cli.main([*flags, "--check"]) == 2
    assert capsys.readouterr().err.strip() == f"viper-run: error: {message}"


def test_describe_options_lists_defaults_constraints_and_docs() -> None:
    rows = {row[0]: row[1:] for row in describe_options(Checked, "loop")}
    assert rows["--set loop.num_envs=1"] == ("an integer >= 1", "Envs.")
    assert rows["--set loop.context='spawn'"] == ("one of 'spawn', 'fork'", "Start method.")
    assert rows["--set loop.heads=2"] == ("", "Heads.")
    inherited = [row[0] for row in describe_options(JaxThing, "tokenizer")]
    assert inherited[0] == "--set tokenizer.depth=1" and len(inherited) == 4


def test_plugins_options_names_an_unknown_component(capsys) -> None:
    from viper.core import cli

    assert cli.main(["plugins", "--options", "no-such-component"]) == 2
    assert "--options no-such-component: no component of that name" in capsys.readouterr().err
