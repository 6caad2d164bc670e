"""The ``ar-transformer`` video model (JAX/flax)."""

from viper.videomodels.artransformer.config import PRESETS, Config
from viper.videomodels.artransformer.model import ARTransformer

__all__ = ["PRESETS", "ARTransformer", "Config"]
