"""DreamerV3 in PyTorch: :class:`~viper.agents.dreamer.agent.DreamerAgent`."""
