"""viper-videomodels' hook implementations: which video models this distribution provides.

Listing plugins imports only this module, so it must not import jax or flax.
"""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_video_models() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="ar-transformer",
            target="viper.videomodels.artransformer:ARTransformer",
            summary="VideoGPT-style causal transformer over VQ codes with an exact cached likelihood stream",
            framework="jax",
            requires=("jax>=0.4.30", "flax>=0.10", "optax>=0.2"),
        ),
    ]
