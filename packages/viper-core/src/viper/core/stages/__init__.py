"""The stages of the main pipeline, each cached in the workdir by its config.

    data (+ random, for the tokenizer only) -> tokenizer -> video_model -> score -> agent -> report

One module per stage, each a function of plain arguments that both the pipeline
(:func:`viper.core.pipeline.run_pipeline`, which only sequences them) and the stage's own
command call. Every stage goes through :mod:`~viper.core.stages.lifecycle`: a stage whose config
(including the folders of the stages it reads) is unchanged is skipped; a killed stage resumes
from its own checkpoints when the same command runs again; every stage's wall time and final
metrics are recorded in its ``stage.json`` and shown in the report.
"""

from __future__ import annotations

from viper.core.stages.agent import train_stage
from viper.core.stages.data import collect_stage, random_stage, require_data
from viper.core.stages.report import write_report
from viper.core.stages.score import ScoreConfig, ScoreResult, score
from viper.core.stages.tokenizer import fit_tokenizer
from viper.core.stages.video_model import fit_video_model

__all__ = [
    "ScoreConfig",
    "ScoreResult",
    "collect_stage",
    "fit_tokenizer",
    "fit_video_model",
    "random_stage",
    "require_data",
    "score",
    "train_stage",
    "write_report",
]
