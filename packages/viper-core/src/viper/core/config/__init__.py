"""Typed component configs filled from ``--set KIND.FIELD=VALUE`` options: one model for all.

A component factory may carry a ``Config`` dataclass (one docstring per field, as in cleanrl and
the flax examples). :func:`build_config` turns strings from the command line (or values from a
JSON config) into that dataclass and validates it; errors name the option and what was expected,
always in one style: ``--set loop.num_envs=0: expected an integer >= 1`` (``--steps -5: expected
an integer >= 1`` for the top-level flags, ``where="--"``).

Declaring a config::

    @dataclasses.dataclass
    class Config(Options):
        SECTION: ClassVar[str] = "video_model"          # names the options in messages
        PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"quick": {"layers": 2}}
        RULES: ClassVar[tuple[Rule, ...]] = (
            Rule("width", lambda c: c.width % c.heads == 0, "a multiple of heads ({heads})"),
        )

        layers: int = option(8, ge=1)
        'Transformer blocks.'
        dropout: float = option(0.1, ge=0, lt=1)
        'Dropout while training.'
        mode: str = option("conditional", one_of=("conditional", "joint"))
        'How frames are scored.'

* :func:`option` declares a field's constraints: ranges (``ge``/``gt``/``le``/``lt``, applied
  to every item of a sequence and skipped for ``None``), ``one_of`` choices, or a ``test``
  predicate with the ``expected`` text of its message. A ``Literal[...]`` type is its own
  choice constraint.
* ``RULES`` holds the few cross-field rules (:class:`Rule`); its ``expected`` text is formatted
  with the config's attributes.
* :func:`validate` checks both; :func:`build_config` calls it, and so does every construction of
  an :class:`Options` subclass (its shared ``__post_init__``), so a Config made in Python is
  checked too. Plain dataclasses (third-party plugins) are checked by :func:`build_config`.
* ``PRESETS`` is the one preset mechanism: named field values, applied by :func:`apply_preset`
  below any explicitly given option (``--preset NAME`` for the pipeline and ``fit-*`` commands).
  A Config with a ``preset`` field chooses its own preset (``--set agent.preset=NAME``): its
  fields left ``None`` are filled from ``PRESETS[preset]`` on construction.
* :class:`DistributedConfig` holds the multi-host JAX settings; the JAX components' Configs
  inherit it, so its fields stay flat options (``--set tokenizer.num_processes=2``) and the
  stage config dicts keep their keys.
"""

from __future__ import annotations

from viper.core.config.base import Options, apply_preset, presets
from viper.core.config.constraints import Check, Rule, option, option_text, validate
from viper.core.config.convert import build_config, config_class, convert, parse_assignments
from viper.core.config.distributed import DistributedConfig
from viper.core.config.docs import describe_options, field_docs
from viper.core.config.hashing import config_hash, to_dict

__all__ = [
    "Check",
    "DistributedConfig",
    "Options",
    "Rule",
    "apply_preset",
    "build_config",
    "config_class",
    "config_hash",
    "convert",
    "describe_options",
    "field_docs",
    "option",
    "option_text",
    "parse_assignments",
    "presets",
    "to_dict",
    "validate",
]
