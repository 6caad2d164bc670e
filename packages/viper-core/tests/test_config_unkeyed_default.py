"""``option(..., keyed_default=False)``: a later option that leaves the stage folders of old runs alone."""

from __future__ import annotations

import dataclasses

from viper.core.config import build_config, config_hash, option, to_dict


@dataclasses.dataclass
class Before:
    """The options a run was cached with."""

    width: int = option(8, ge=1)
    """A width."""


@dataclasses.dataclass
class After(Before):
    """The same options plus one added later."""

    offset: str = option("auto", keyed_default=False)
    """Added later; its default keeps the old behaviour."""


def test_an_unkeyed_option_is_left_out_of_the_hash_only_while_it_holds_its_default():
    assert to_dict(After()) == to_dict(Before()) == {"width": 8}
    assert config_hash(to_dict(After())) == config_hash(to_dict(Before()))
    assert to_dict(build_config(After, {"offset": "none"})) == {"width": 8, "offset": "none"}
    assert to_dict(build_config(After, {"width": "4"})) == {"width": 4}
