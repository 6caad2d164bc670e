"""DrQ-v2 in PyTorch: :class:`~viper.agents.drq.agent.DrQAgent`."""
