"""DQN for discrete actions: double and dueling Q-learning from n-step returns."""
