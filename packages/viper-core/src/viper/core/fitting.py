"""Where the fitting stages used to live; they are :mod:`viper.core.stages.tokenizer` and
:mod:`viper.core.stages.video_model` now (this name stays for code that imports it)."""

from viper.core.stages.data import require_data
from viper.core.stages.tokenizer import fit_tokenizer
from viper.core.stages.video_model import fit_video_model

__all__ = ["fit_tokenizer", "fit_video_model", "require_data"]
