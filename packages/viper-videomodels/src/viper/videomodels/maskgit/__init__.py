"""The ``maskgit`` video model (JAX/flax).

The files play the roles they play in every JAX component: ``config.py`` the options,
``model.py`` the factory (log_prob/stream/fit/save/load, and the likelihood estimator's
description), ``network.py`` the flax modules and the unmasking order, ``train.py`` the training
run, ``stream.py`` the online scorer.
"""

from viper.videomodels.maskgit.config import PRESETS, Config
from viper.videomodels.maskgit.model import MaskGIT

__all__ = ["PRESETS", "Config", "MaskGIT"]
