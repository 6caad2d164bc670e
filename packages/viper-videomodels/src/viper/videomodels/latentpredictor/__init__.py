"""The ``latent-predictor`` video model (JAX/flax): a deterministic, BYOL-style predictor of the
next frame's embedding. It has no likelihood (``likelihood = False``): its ``score`` is the
agreement of the predicted and the target embedding of each frame.

The files play the roles they play in every JAX component: ``config.py`` the options,
``model.py`` the factory (score/stream/fit/save/load), ``network.py`` the flax modules and the
pure functions every caller jits, ``train.py`` the training run, ``stream.py`` the online scorer.
"""

from viper.videomodels.latentpredictor.config import PRESETS, Config
from viper.videomodels.latentpredictor.model import LatentPredictor

__all__ = ["PRESETS", "Config", "LatentPredictor"]
