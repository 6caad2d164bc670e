"""viper-tokenizers' hook implementations."""

from __future__ import annotations
