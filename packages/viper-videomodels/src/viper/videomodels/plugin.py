"""viper-videomodels' hook implementations."""

from __future__ import annotations
