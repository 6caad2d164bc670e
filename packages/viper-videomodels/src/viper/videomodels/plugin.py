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
        ComponentSpec(
            name="maskgit",
            target="viper.videomodels.maskgit:MaskGIT",
            summary="MaskGIT bidirectional transformer over VQ codes; likelihood by fixed-order unmasking steps",
            framework="jax",
            requires=("jax>=0.4.30", "flax>=0.10", "optax>=0.2"),
        ),
        ComponentSpec(
            name="latent-predictor",
            target="viper.videomodels.latentpredictor:LatentPredictor",
            summary="deterministic BYOL-style predictor of the next frame's embedding; a score, no likelihood",
            framework="jax",
            requires=("jax>=0.4.30", "flax>=0.10", "optax>=0.2"),
        ),
    ]
