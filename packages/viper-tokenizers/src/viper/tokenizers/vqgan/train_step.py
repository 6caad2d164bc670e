"""The VQ-GAN's training state and its one jitted training step.

State (a plain dict pytree, saved as msgpack)::

    step            int32
    rng             uint32[2]  base key; step k uses fold_in(rng, k), so a resumed run is identical
    params          {"encoder", "decoder"}
    codebook        {"embedding", "cluster_size", "embed_sum"}  (EMA statistics, no gradients)
    opt_state       AdamW state of params
    disc_params     patch discriminator
    disc_opt_state  AdamW state of disc_params

One step: encode -> quantize (straight-through) -> decode; the reconstruction loss (L1 plus the
optional MSE and perceptual terms) and, after the warm-up, the hinge generator loss are differentiated
with respect to the reconstruction, combined with the adaptive weight, and pulled back through the
autoencoder once; the codebook moves by EMA and restarts dead codes; the discriminator takes a
hinge-loss step on real frames vs the (stopped) reconstructions.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from viper.tokenizers.vqgan.config import Config
from viper.tokenizers.vqgan.network import (
    Decoder,
    Encoder,
    PatchDiscriminator,
    init_codebook,
    init_params,
    nearest_codes,
    output_conv,
    perplexity,
    quantize,
    update_codebook,
)
from viper.tokenizers.vqgan.perceptual import PerceptualLoss


def to_unit(frames: jax.Array) -> jax.Array:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return frames.astype(jnp.float32) / 127.5 - 1.0


def to_uint8(images: jax.Array) -> jax.Array:
    """float [-1, 1] -> uint8 [0, 255] (clipped, rounded)."""
    return jnp.round((jnp.clip(images, -1.0, 1.0) + 1.0) * 127.5).astype(jnp.uint8)


def _kernels(params: Any) -> Any:
    """Weight-decay mask: kernels only; biases and norm scales/offsets stay free, as usual."""
    return jax.tree_util.tree_map(lambda p: p.ndim > 1, params)


def _optimizer(config: Config) -> optax.GradientTransformation:
    if config.warmup_steps:
        schedule = optax.linear_schedule(0.0, config.learning_rate, config.warmup_steps)
    else:
        schedule = optax.constant_schedule(config.learning_rate)
    adamw = optax.adamw(schedule, config.adam_b1, config.adam_b2, weight_decay=config.weight_decay, mask=_kernels)
    if config.max_grad_norm > 0:
        return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), adamw)
    return adamw


class VQGANModel:
    """Modules, optimizers and pure functions of one configured VQ-GAN."""

    def __init__(self, config: Config, perceptual: PerceptualLoss | None = None) -> None:
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.disc = PatchDiscriminator(config.disc_channels, config.disc_layers, config.norm_groups)
        self.tx = _optimizer(config)
        self.disc_tx = _optimizer(config)
        self.perceptual = perceptual

    # -- initialisation ------------------------------------------------------------------------

    def init_weights(self, seed: int) -> dict[str, Any]:
        """``{"params", "codebook"}`` of a fresh autoencoder (numpy arrays)."""
        cfg = self.config
        image = jax.ShapeDtypeStruct((1, cfg.image_size, cfg.image_size, 3), jnp.float32)
        h, w = cfg.code_grid
        latent = jax.ShapeDtypeStruct((1, h, w, cfg.embed_dim), jnp.float32)
        seeds = np.random.SeedSequence(seed).generate_state(3)
        return {
            "params": {
                "encoder": init_params(self.encoder, int(seeds[0]), image),
                "decoder": init_params(self.decoder, int(seeds[1]), latent),
            },
            "codebook": init_codebook(cfg, int(seeds[2])),
        }

    def init_state(self, seed: int) -> dict[str, Any]:
        """A fresh training state (see the module docstring)."""
        weights = self.init_weights(seed)
        image = jax.ShapeDtypeStruct((1, self.config.image_size, self.config.image_size, 3), jnp.float32)
        disc_params = init_params(self.disc, seed + 1, image)
        return {
            "step": np.zeros((), np.int32),
            "rng": np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], np.uint32),  # == PRNGKey(seed)
            "params": weights["params"],
            "codebook": weights["codebook"],
            # one compiled call instead of an eager op per parameter
            "opt_state": jax.jit(self.tx.init)(weights["params"]),
            "disc_params": disc_params,
            "disc_opt_state": jax.jit(self.disc_tx.init)(disc_params),
        }

    def state_shapes(self, seed: int = 0) -> Any:
        """The state's structure and shapes (a template for restoring a checkpoint)."""
        return jax.eval_shape(lambda: self.init_state(seed))

    # -- inference -----------------------------------------------------------------------------

    def encode(self, params: Any, embedding: jax.Array, frames: jax.Array) -> jax.Array:
        """``uint8[N,H,W,3] -> int32[N,h,w]``."""
        z = self.encoder.apply({"params": params["encoder"]}, to_unit(frames))
        return nearest_codes(z, embedding)

    def decode(self, params: Any, embedding: jax.Array, codes: jax.Array) -> jax.Array:
        """``int32[N,h,w] -> uint8[N,H,W,3]``."""
        recon, _ = self.decoder.apply({"params": params["decoder"]}, embedding[codes])
        return to_uint8(recon)

    # -- training --------------------------------------------------------------------------------

    def train_step(
        self,
        state: dict[str, Any],
        frames: jax.Array,
        perceptual_params: Any,
        background: jax.Array | None,
        adversarial: bool,
    ) -> tuple[dict[str, Any], dict[str, jax.Array]]:
        """One update of autoencoder, codebook and (if ``adversarial``) discriminator.

        ``frames`` is the global batch ``uint8[B,H,W,3]``; every mean below is over all of it.
        ``background`` (``uint8[H,W,3]``, the training frames' median) weighs the foreground's
        reconstruction error by ``1 + foreground_weight`` (None: every pixel alike).
        """
        cfg = self.config
        x = to_unit(frames)
        weight = None
        if background is not None:
            diff = jnp.abs(frames.astype(jnp.int32) - background.astype(jnp.int32)[None]).max(-1, keepdims=True)
            foreground = (diff > cfg.foreground_threshold).astype(jnp.float32)
            weight = 1.0 + cfg.foreground_weight * foreground
        rng = jax.random.fold_in(state["rng"], state["step"])
        embedding = state["codebook"]["embedding"]

        def forward(params: Any) -> tuple[tuple[jax.Array, jax.Array], tuple[jax.Array, ...]]:
            z = self.encoder.apply({"params": params["encoder"]}, x)
            z_q, codes, commit = quantize(z, embedding)
            recon, features = self.decoder.apply({"params": params["decoder"]}, z_q)
            return (recon, commit), (z, codes, features)

        (recon, commit), pullback, (z, codes, features) = jax.vjp(forward, state["params"], has_aux=True)

        def recon_loss(r: jax.Array) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
            l1, l2 = jnp.abs(x - r), (x - r) ** 2
            if weight is not None:
                l1, l2 = weight * l1, weight * l2
            l1, l2 = jnp.mean(l1), jnp.mean(l2)
            total = l1 + cfg.l2_weight * l2
            if self.perceptual is None:
                return total, (l1, l2, jnp.zeros(()))
            p = jnp.mean(self.perceptual.distance(perceptual_params, x, r))
            return total + cfg.perceptual_weight * p, (l1, l2, p)

        (rec, (l1, l2, p_loss)), g_recon = jax.value_and_grad(recon_loss, has_aux=True)(recon)
        metrics = {
            "recon_l1": l1,
            "recon_mse": l2,
            "commit": commit,
            "perplexity": perplexity(codes, cfg.codebook_size),
        }
        if self.perceptual is not None:
            metrics["perceptual"] = p_loss
        if weight is not None:
            metrics["foreground_fraction"] = jnp.mean(weight > 1.0)
        loss = rec + cfg.commitment * commit
        grad_out = g_recon
        disc_params, disc_opt_state = state["disc_params"], state["disc_opt_state"]
        if adversarial:

            def gen_loss(r: jax.Array) -> jax.Array:  # hinge generator loss
                return -jnp.mean(self.disc.apply({"params": disc_params}, r))

            g_loss, g_adv = jax.value_and_grad(gen_loss)(recon)
            weight = jnp.asarray(cfg.disc_weight, jnp.float32)
            if cfg.adaptive_disc_weight:
                # ||dL_rec/dW|| / ||dL_adv/dW|| at the decoder's last conv W (taming's VQGAN).
                last = state["params"]["decoder"]["conv_out"]
                _, conv_vjp = jax.vjp(lambda w: output_conv().apply({"params": w}, features), last)
                norm_rec = jnp.linalg.norm(conv_vjp(g_recon)[0]["kernel"])
                norm_adv = jnp.linalg.norm(conv_vjp(g_adv)[0]["kernel"])
                weight = weight * jnp.clip(norm_rec / (norm_adv + 1e-4), 0.0, 1e4)
            weight = jax.lax.stop_gradient(weight)
            grad_out = g_recon + weight * g_adv
            loss = loss + weight * g_loss

            def disc_loss(dp: Any) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
                real = self.disc.apply({"params": dp}, x)
                fake = self.disc.apply({"params": dp}, jax.lax.stop_gradient(recon))
                hinge = jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
                return 0.5 * hinge, (jnp.mean(real), jnp.mean(fake))

            (d_loss, (real, fake)), d_grads = jax.value_and_grad(disc_loss, has_aux=True)(disc_params)
            d_updates, disc_opt_state = self.disc_tx.update(d_grads, disc_opt_state, disc_params)
            disc_params = optax.apply_updates(disc_params, d_updates)
            metrics.update(g_loss=g_loss, d_loss=d_loss, adv_weight=weight, logits_real=real, logits_fake=fake)

        (grads,) = pullback((grad_out, jnp.asarray(cfg.commitment, jnp.float32)))
        updates, opt_state = self.tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        codebook, dead = update_codebook(state["codebook"], z, codes, rng, cfg.codebook_decay, cfg.dead_code_threshold)
        metrics.update(loss=loss, dead_codes=dead)
        new_state = {
            "step": state["step"] + 1,
            "rng": state["rng"],
            "params": params,
            "codebook": codebook,
            "opt_state": opt_state,
            "disc_params": disc_params,
            "disc_opt_state": disc_opt_state,
        }
        return new_state, metrics


def psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean over frames of ``10 log10(255^2 / MSE)`` (capped at 100 dB for exact frames)."""
    diff = original.astype(np.float64) - reconstruction.astype(np.float64)
    mse = np.mean(diff.reshape(len(diff), -1) ** 2, axis=1)
    return float(np.mean(np.where(mse > 0, 10 * np.log10(255.0**2 / np.maximum(mse, 1e-10)), 100.0)))


def code_usage(codes: np.ndarray, codebook_size: int) -> tuple[float, int]:
    """``(perplexity, dead codes)`` of a set of codes: effective codes in use, and codes never used."""
    counts = np.bincount(np.asarray(codes).reshape(-1), minlength=codebook_size).astype(np.float64)
    probs = counts / max(counts.sum(), 1.0)
    nz = probs[probs > 0]
    return float(np.exp(-np.sum(nz * np.log(nz)))), int(np.sum(counts == 0))
