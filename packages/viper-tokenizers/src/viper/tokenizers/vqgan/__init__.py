"""VQ-GAN frame tokenizer (JAX/flax); see :class:`~viper.tokenizers.vqgan.model.VQGANTokenizer`.

The files play the roles they play in every JAX component (``viper.videomodels.artransformer``):
``config.py`` the options, ``model.py`` the factory (encode/decode/fit/save/load), ``network.py``
the flax modules, ``train.py`` the training run; ``train_step.py`` holds the training state and
the one jitted step, ``perceptual.py`` the optional LPIPS loss.
"""

from viper.tokenizers.vqgan.config import PRESETS, Config
from viper.tokenizers.vqgan.model import VQGANTokenizer

__all__ = ["PRESETS", "Config", "VQGANTokenizer"]
