"""viper-tokenizers' hook implementations."""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl
