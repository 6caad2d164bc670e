"""VQ-GAN frame tokenizer (JAX/flax); see :class:`~viper.tokenizers.vqgan.tokenizer.VQGANTokenizer`."""

from viper.tokenizers.vqgan.config import PRESETS, Config
from viper.tokenizers.vqgan.tokenizer import VQGANTokenizer

__all__ = ["PRESETS", "Config", "VQGANTokenizer"]
