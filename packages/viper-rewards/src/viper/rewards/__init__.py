"""viper-rewards: VIPER's likelihood reward, exploration bonuses and baselines, and the way to use
any of them outside viper's loop (:mod:`viper.rewards.wrappers`)::

    from viper.rewards import RewardWrapper, VectorRewardWrapper, relabel

Importing this package loads nothing heavy: the names above are resolved on first use, so the
plugin hooks (:mod:`viper.rewards.plugin`) stay cheap to list.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RewardWrapper", "VectorRewardWrapper", "relabel"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from viper.rewards import wrappers

        return getattr(wrappers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
