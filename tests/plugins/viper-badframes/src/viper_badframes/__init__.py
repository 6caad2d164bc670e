"""Breaks the env-suite contract on purpose: `viper-run check-plugin viper-badframes` must reject it."""
