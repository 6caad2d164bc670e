"""viper-agents: RL agents in PyTorch driven by :mod:`viper.core.loop`.

``dreamer`` (DreamerV3, :mod:`viper.agents.dreamer`) and ``drq`` (DrQ-v2, :mod:`viper.agents.drq`).
Importing this package does not import torch; the agent modules do.
"""
