"""viper-agents' hook implementations."""

from __future__ import annotations
