"""LPIPS-style perceptual distance from a local file of VGG-style weights (never downloaded).

The file (``.safetensors`` or ``.npz``) uses torchvision's key names for ``vgg16().features``:
``features.{i}.weight`` (``[out, in, 3, 3]``) and ``features.{i}.bias`` for each 3x3 convolution
``i``, each followed by a ReLU; a gap of 3 between consecutive conv indices marks a 2x2 max-pool.
Features are tapped at the last ReLU of every block between pools (relu1_2 ... relu5_3 for VGG16).
Optional LPIPS calibration weights ``lin{k}.model.1.weight`` (``[1, C_k, 1, 1]``, the ``lpips``
package's names) weight each tap's channels; without them every channel counts equally.

Distance (Zhang et al. 2018): unit-normalise each tap's features over channels, square the
difference of the two images' features, weight the channels, average over positions, sum over taps.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from viper.core.errors import ConfigError

OPTION = "--set tokenizer.perceptual_weights"
_CONV = re.compile(r"^features\.(\d+)\.weight$")
# LPIPS's input normalisation for images in [-1, 1].
_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_SCALE = np.array([0.458, 0.448, 0.450], np.float32)

CONVERT_HINT = (
    "viper never downloads weights; write them once yourself, e.g. `import torchvision, safetensors.torch; "
    'sd = torchvision.models.vgg16(weights="IMAGENET1K_V1").features.state_dict(); '
    'safetensors.torch.save_file({f"features.{k}": v for k, v in sd.items()}, "vgg16.safetensors")`'
)


def _read(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".safetensors":
        try:
            from safetensors.numpy import load_file
        except ImportError as exc:  # declared dependency, but say what to do if it is missing
            raise ConfigError(f"{OPTION}={path}: reading .safetensors needs `pip install safetensors`") from exc
        try:
            return dict(load_file(str(path)))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise ConfigError(f"{OPTION}={path}: unreadable safetensors file ({exc})") from exc
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{OPTION}={path}: unreadable npz file ({exc})") from exc
    raise ConfigError(f"{OPTION}={path}: expected a .safetensors or .npz file")


class PerceptualLoss:
    """``distance(x, y)`` for images in ``[-1, 1]`` (``float[N,H,W,3]``) -> ``float32[N]``.

    The weights are frozen; pass :attr:`params` to the jitted function as an argument (so large
    weights are not baked into the compiled program) and call :meth:`distance` inside it.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ConfigError(f"{OPTION}={path}: no such file; {CONVERT_HINT}")
        tensors = _read(path)
        indices = sorted(int(m[1]) for key in tensors if (m := _CONV.match(key)))
        if not indices:
            raise ConfigError(
                f"{OPTION}={path}: holds no 'features.N.weight' tensors (VGG-style conv weights, "
                f"torchvision names); found {', '.join(sorted(tensors)[:5]) or 'nothing'}"
            )
        convs: list[dict[str, np.ndarray]] = []
        in_channels = 3
        for i in indices:
            weight = np.asarray(tensors[f"features.{i}.weight"], np.float32)
            bias = tensors.get(f"features.{i}.bias")
            if weight.ndim != 4 or weight.shape[1] != in_channels or weight.shape[2:] != (3, 3):
                raise ConfigError(
                    f"{OPTION}={path}: features.{i}.weight has shape {list(weight.shape)}, expected "
                    f"[out, {in_channels}, 3, 3]"
                )
            if bias is None or np.shape(bias) != (weight.shape[0],):
                raise ConfigError(f"{OPTION}={path}: features.{i}.bias missing or not of shape [{weight.shape[0]}]")
            # torch OIHW -> flax HWIO
            convs.append({"kernel": weight.transpose(2, 3, 1, 0), "bias": np.asarray(bias, np.float32)})
            in_channels = weight.shape[0]
        # Blocks are runs of convs whose indices step by 2 (conv, relu); a step of 3 hides a pool.
        self.blocks: list[int] = [1]
        for prev, cur in zip(indices, indices[1:]):
            if cur - prev == 2:
                self.blocks[-1] += 1
            elif cur - prev == 3:
                self.blocks.append(1)
            else:
                raise ConfigError(
                    f"{OPTION}={path}: conv indices {prev} and {cur} are neither adjacent (conv, relu) nor "
                    f"separated by one pool; expected torchvision VGG 'features' numbering"
                )
        taps = np.cumsum(self.blocks) - 1
        lins = []
        for k, tap in enumerate(taps):
            channels = convs[tap]["kernel"].shape[-1]
            lin = tensors.get(f"lin{k}.model.1.weight")
            if lin is None:
                lin = np.full((channels,), 1.0 / channels, np.float32)
            else:
                lin = np.asarray(lin, np.float32).reshape(-1)
                if lin.shape != (channels,):
                    raise ConfigError(
                        f"{OPTION}={path}: lin{k}.model.1.weight has {lin.size} weights, block {k} has {channels} channels"
                    )
            lins.append(lin)
        self.path = path
        self.params: dict[str, Any] = {
            "convs": [{k: jnp.asarray(v) for k, v in c.items()} for c in convs],
            "lins": [jnp.asarray(v) for v in lins],
        }

    def features(self, params: dict[str, Any], x: jax.Array) -> list[jax.Array]:
        h = (x - _SHIFT) / _SCALE
        taps, i = [], 0
        for b, size in enumerate(self.blocks):
            if b:
                h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
            for _ in range(size):
                conv = params["convs"][i]
                h = jax.lax.conv_general_dilated(
                    h, conv["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
                )
                h = jax.nn.relu(h + conv["bias"])
                i += 1
            taps.append(h)
        return taps

    def distance(self, params: dict[str, Any], x: jax.Array, y: jax.Array) -> jax.Array:
        params = jax.lax.stop_gradient(params)
        n = x.shape[0]
        feats = self.features(params, jnp.concatenate([x, y]).astype(jnp.float32))
        total = jnp.zeros((n,), jnp.float32)
        for f, lin in zip(feats, params["lins"]):
            f = f / (jnp.sqrt(jnp.sum(f**2, axis=-1, keepdims=True)) + 1e-10)
            diff = (f[:n] - f[n:]) ** 2
            total = total + jnp.mean(jnp.sum(diff * lin, axis=-1), axis=(1, 2))
        return total
