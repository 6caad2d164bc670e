"""The ``ar-transformer`` video model (JAX/flax).

The files play the roles they play in every JAX component (``viper.tokenizers.vqgan``):
``config.py`` the options, ``model.py`` the factory (log_prob/stream/fit/save/load),
``network.py`` the flax modules, ``train.py`` the training run, ``stream.py`` the online scorer;
``compiled.py`` holds the network of one model shape with its jitted functions, which the model
hands to its stream and its trainer.
"""

from viper.videomodels.artransformer.config import PRESETS, Config
from viper.videomodels.artransformer.model import ARTransformer

__all__ = ["PRESETS", "ARTransformer", "Config"]
