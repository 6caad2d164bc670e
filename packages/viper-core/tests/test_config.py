from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from viper.core.config import build_config, config_hash, field_docs, parse_assignments
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
