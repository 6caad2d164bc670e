"""The hook viper-run reads: which components this distribution provides (imports no model code)."""

from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_video_models():
    return [
        ComponentSpec(
            "count-transitions",
            "viper_countmodel.model:CountTransitions",
            "per-position counts of code transitions, Witten-Bell smoothed with a position-free backoff",
            framework="numpy",
        )
    ]
