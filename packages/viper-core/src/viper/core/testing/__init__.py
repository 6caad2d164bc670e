"""The contract kit for plugin authors: fakes of every component kind and conformance checks.

Each ``check_*`` runs the rules of one kind's contract (:mod:`viper.core.protocols`) on a
component and returns the names of the rules that held, or raises
:class:`~viper.core.testing.rules.RuleFailure` (a :class:`~viper.core.errors.ContractError`)
naming the first broken one::

    from viper.core.testing import check_env_suite
    check_env_suite(MySuite(), "my-task")          # in your plugin's tests

``viper-run check-plugin NAME`` runs them on an installed plugin and prints a table. The fakes
(``FakeSuite``, ``FakeTokenizer``, ``FakeVideoModel``, ``FakeReward``, ``FakeAgent``, all
registered as ``fake`` on :func:`fake_host`) stand in for the other components when testing one.
"""

from viper.core.testing.agent_rules import check_agent
from viper.core.testing.contract_data import expert_episodes, fit_tokenizer, fit_video_model, reward_context
from viper.core.testing.env_rules import LOOP_RULES, check_env_suite, preflight_env
from viper.core.testing.fake_agent import FakeAgent
from viper.core.testing.fake_plugin import fake_host
from viper.core.testing.fake_reward import FakeReward
from viper.core.testing.fake_suite import FakeSuite
from viper.core.testing.fake_tokenizer import FakeTokenizer
from viper.core.testing.fake_video_model import FakeVideoModel
from viper.core.testing.reward_rules import check_reward
from viper.core.testing.rules import RuleFailure
from viper.core.testing.tokenizer_rules import check_tokenizer
from viper.core.testing.video_model_rules import check_video_model

__all__ = [
    "LOOP_RULES",
    "FakeAgent",
    "FakeReward",
    "FakeSuite",
    "FakeTokenizer",
    "FakeVideoModel",
    "RuleFailure",
    "check_agent",
    "check_env_suite",
    "check_reward",
    "check_tokenizer",
    "check_video_model",
    "expert_episodes",
    "fake_host",
    "fit_tokenizer",
    "fit_video_model",
    "preflight_env",
    "reward_context",
]
