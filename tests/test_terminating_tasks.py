"""Which tasks declare that their episodes end early on failure (the ``viper`` reward's ``offset=auto``)."""

from __future__ import annotations

from viper.core import get_host
from viper.core.components import resolve_env
from viper.core.rewarding import reward_context


def test_only_tasks_that_end_on_failure_turn_the_alive_offset_on(tmp_path):
    host = get_host()
    for env, ends in (("lite:balance", True), ("lite:reach", False), ("lite:push", False)):
        name, suite = resolve_env(env, host)
        assert suite.terminates(name.task) is ends, env
        assert reward_context(tmp_path, suite, name.task, size=64, seed=0, host=host).terminates is ends
