"""One module per ``viper-run`` command (see :mod:`viper.core.cli`)."""
