"""viper-tokenizers' hook implementations: which tokenizers this distribution provides.

Only describes components; importing this module must not import jax.
"""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_tokenizers() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="vqgan",
            target="viper.tokenizers.vqgan.model:VQGANTokenizer",
            summary="VQ-GAN (EMA codebook, patch-GAN, optional local LPIPS): frames <-> a grid of discrete codes",
            framework="jax",
            requires=("jax>=0.4.30", "flax>=0.10", "optax>=0.2"),
        ),
    ]
