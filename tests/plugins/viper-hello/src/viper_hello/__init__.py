"""A third-party viper plugin, kept as small as a real one can be."""
