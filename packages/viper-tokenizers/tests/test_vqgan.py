"""The vqgan tokenizer: registration, contract, persistence and its options."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from viper.core.config import build_config, field_docs
from viper.core.errors import ConfigError, ContractError, WorkdirError
from viper.core.protocols import Tokenizer
from viper.tokenizers.testing import tiny_config, write_vgg_like


@pytest.fixture(scope="module")
def tokenizer():
    from viper.tokenizers.vqgan import VQGANTokenizer

    return VQGANTokenizer(tiny_config())


def frames(n: int, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# -- registration and configuration -------------------------------------------------------------


def test_plugin_module_does_not_import_jax():
    code = (
        "import sys, viper.tokenizers.plugin as p; specs = p.viper_register_tokenizers(); "
        "assert 'jax' not in sys.modules and 'flax' not in sys.modules, 'plugin imported jax'; "
        "print(specs[0].name, specs[0].framework, specs[0].target)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["vqgan", "jax", "viper.tokenizers.vqgan.model:VQGANTokenizer"]


def test_registered_with_the_plugin_host():
    from viper.core.components import make_config, presets
    from viper.core.plugins import PluginHost
    from viper.tokenizers import plugin
    from viper.tokenizers.vqgan import PRESETS, VQGANTokenizer

    host = PluginHost(entry_points=False)
    host.register(plugin, name="tokenizers", distribution="viper-tokenizers", version="0.1.0")
    spec = host.get("tokenizer", "vqgan").spec
    assert spec.requires == ("jax>=0.4.30", "flax>=0.10", "optax>=0.2")
    factory = host.load("tokenizer", "vqgan")
    assert factory is VQGANTokenizer
    assert set(presets(factory)) >= {"paper", "quick", "light"} and presets(factory) == PRESETS
    config = make_config("tokenizer", "vqgan", {"codebook_size": "512"}, host, preset="quick")
    assert config.codebook_size == 512 and config.base_channels == PRESETS["quick"]["base_channels"]


def test_config_defaults_are_the_paper_tokenizer_and_every_field_is_documented():
    from viper.tokenizers.vqgan import PRESETS, Config

    config = Config()
    assert (config.image_size, config.base_channels, config.channel_multipliers) == (64, 128, (1, 2, 2, 2))
    assert (config.code_grid, config.codebook_size, config.commitment) == ((8, 8), 256, 0.25)
    assert build_config(Config, PRESETS["paper"]) == config
    docs = field_docs(Config)
    assert set(docs) == {f.name for f in dataclasses.fields(Config)}
    assert all(docs.values())
    for name in PRESETS:
        preset = build_config(Config, PRESETS[name])
        assert preset.code_grid in ((8, 8), (16, 16))


def test_config_rejects_bad_values():
    from viper.tokenizers.vqgan import Config

    with pytest.raises(ConfigError, match="image_size=60: expected a multiple of the downsampling factor 8"):
        Config(image_size=60)
    with pytest.raises(ConfigError, match="codebook_size"):
        build_config(Config, {"codebook_size": "1"}, where="--set tokenizer")
    with pytest.raises(ConfigError, match="channel_multipliers"):
        Config(channel_multipliers=(1, 0))
    with pytest.raises(ConfigError, match="num_res_blocks"):
        build_config(Config, {"num_res_blocks": "1,1"}, where="--set tokenizer")
    assert Config(channel_multipliers=(1, 2, 2)).code_grid == (16, 16)
    assert build_config(Config, {"num_res_blocks": "0,1,1,1"}).res_blocks(0) == 0


def test_implements_the_tokenizer_protocol(tokenizer):
    assert isinstance(tokenizer, Tokenizer)
    assert (tokenizer.vocab_size, tokenizer.image_size, tokenizer.code_grid) == (32, (16, 16), (4, 4))


# -- encode / decode ----------------------------------------------------------------------------


def test_encode_decode_shapes(tokenizer):
    x = frames(11)
    codes = tokenizer.encode(x)
    assert codes.shape == (11, 4, 4) and codes.dtype == np.int32
    assert codes.min() >= 0 and codes.max() < tokenizer.vocab_size
    images = tokenizer.decode(codes)
    assert images.shape == (11, 16, 16, 3) and images.dtype == np.uint8
    images[0, 0, 0] = 0  # a writable array, not a view of device memory
    # chunking (encode_batch=4) and padding (3 -> 4) do not change results
    one_by_one = np.concatenate([tokenizer.encode(x[i : i + 1]) for i in range(11)])
    np.testing.assert_array_equal(codes, one_by_one)
    assert tokenizer.encode(x[:0]).shape == (0, 4, 4)
    assert tokenizer.decode(codes[:0]).shape == (0, 16, 16, 3)
    np.testing.assert_array_equal(tokenizer.decode(codes.astype(np.int64)), tokenizer.decode(codes))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 16, 16, 3), np.float32), r"uint8\[N,H,W,3\]"),
        (np.zeros((16, 16, 3), np.uint8), r"uint8\[N,H,W,3\]"),
        (np.zeros((2, 32, 32, 3), np.uint8), "expected 16x16 frames, got 32x32"),
        (np.zeros((2, 16, 16, 4), np.uint8), r"uint8\[N,H,W,3\]"),
        ([[0]], "numpy array"),
    ],
)
def test_encode_rejects_bad_frames(tokenizer, bad, match):
    with pytest.raises(ContractError, match=match):
        tokenizer.encode(bad)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((2, 4, 4), 32, np.int32), r"codes must lie in \[0, 32\), got values in \[32, 32\]"),
        (np.full((2, 4, 4), -1, np.int32), r"\[0, 32\)"),
        (np.zeros((2, 8, 8), np.int32), "4x4 code grid"),
        (np.zeros((2, 4, 4), np.float32), "int32 array"),
        (np.zeros((4, 4), np.int32), "int32 array with 3 dims"),
    ],
)
def test_decode_rejects_bad_codes(tokenizer, bad, match):
    with pytest.raises(ContractError, match=match):
        tokenizer.decode(bad)


# -- persistence --------------------------------------------------------------------------------


def test_save_load_round_trip(tokenizer, tmp_path):
    from viper.tokenizers.vqgan import VQGANTokenizer

    # perturb the weights so a fresh init cannot pass for a loaded checkpoint
    tokenizer.embedding = tokenizer.embedding + 0.5
    tokenizer.save(tmp_path / "tok")
    assert sorted(p.name for p in (tmp_path / "tok").iterdir()) == ["config.json", "weights"]
    assert (tmp_path / "tok/weights/state.msgpack").is_file()
    assert json.loads((tmp_path / "tok/config.json").read_text())["config"]["codebook_size"] == 32
    loaded = VQGANTokenizer.load(tmp_path / "tok")
    assert loaded.config == tokenizer.config
    x = frames(6, seed=3)
    np.testing.assert_array_equal(loaded.encode(x), tokenizer.encode(x))
    codes = np.arange(6 * 16).reshape(6, 4, 4).astype(np.int32) % 32
    np.testing.assert_array_equal(loaded.decode(codes), tokenizer.decode(codes))


def test_load_into_a_mismatched_config_names_the_difference(tokenizer, tmp_path):
    from viper.tokenizers.vqgan import VQGANTokenizer

    tokenizer.save(tmp_path / "tok")
    with pytest.raises(WorkdirError, match="trained with base_channels=8, the given config has 16"):
        VQGANTokenizer.load(tmp_path / "tok", tiny_config(base_channels=16))
    # options that do not change the weights may differ
    assert VQGANTokenizer.load(tmp_path / "tok", tiny_config(steps=99)).config.steps == 99
    # a config.json that no longer matches its weights: the checker names the parameter
    path = tmp_path / "tok/config.json"
    info = json.loads(path.read_text())
    info["config"]["codebook_size"] = 64
    path.write_text(json.dumps(info))
    with pytest.raises(
        WorkdirError, match=r"parameter 'codebook/embedding' has shape \(32, 8\) but this config expects \(64, 8\)"
    ):
        VQGANTokenizer.load(tmp_path / "tok")
    with pytest.raises(WorkdirError, match="not a vqgan tokenizer"):
        VQGANTokenizer.load(tmp_path / "missing")


# -- perceptual loss from a local weights file ----------------------------------------------------


def test_perceptual_distance_from_a_local_file(tmp_path):
    import jax
    import jax.numpy as jnp

    from viper.tokenizers.vqgan.perceptual import PerceptualLoss

    loss = PerceptualLoss(write_vgg_like(tmp_path / "vgg.safetensors"))
    assert loss.blocks == [2, 1]
    x = jnp.asarray(frames(3), jnp.float32) / 127.5 - 1
    y = jnp.asarray(frames(3, seed=1), jnp.float32) / 127.5 - 1
    distance = jax.jit(loss.distance)
    same = np.asarray(distance(loss.params, x, x))
    different = np.asarray(distance(loss.params, x, y))
    assert same.shape == (3,) and np.allclose(same, 0, atol=1e-6)
    assert (different > 1e-4).all()
    # the same weights as .npz, without calibration weights
    from safetensors.numpy import load_file

    tensors = load_file(str(write_vgg_like(tmp_path / "plain.safetensors", with_lins=False)))
    np.savez(tmp_path / "vgg.npz", **tensors)
    from_npz = PerceptualLoss(tmp_path / "vgg.npz")
    assert np.allclose(from_npz.params["lins"][1], 1 / 6)  # no calibration: every channel counts equally
    np.testing.assert_allclose(from_npz.params["convs"][2]["kernel"], loss.params["convs"][2]["kernel"])


def test_perceptual_weights_must_exist_locally(tmp_path):
    from viper.tokenizers.vqgan.perceptual import PerceptualLoss

    with pytest.raises(ConfigError, match="perceptual_weights=.*no such file; viper never downloads weights"):
        PerceptualLoss(tmp_path / "vgg16.safetensors")
    (tmp_path / "vgg.pth").write_bytes(b"not allowed")
    with pytest.raises(ConfigError, match=r"expected a \.safetensors or \.npz file"):
        PerceptualLoss(tmp_path / "vgg.pth")
    np.savez(tmp_path / "bad.npz", **{"features.0.weight": np.zeros((4, 5, 3, 3)), "features.0.bias": np.zeros(4)})
    with pytest.raises(ConfigError, match=r"features.0.weight has shape \[4, 5, 3, 3\], expected \[out, 3, 3, 3\]"):
        PerceptualLoss(tmp_path / "bad.npz")
    np.savez(tmp_path / "empty.npz", other=np.zeros(3))
    with pytest.raises(ConfigError, match="holds no 'features.N.weight'"):
        PerceptualLoss(tmp_path / "empty.npz")


def test_accepts_jax_distributed_settings():
    from viper.tokenizers.vqgan import Config, VQGANTokenizer

    config = build_config(
        Config,
        {"coordinator_address": "10.0.0.1:1234", "num_processes": "4", "process_id": "3"},
        where="--set tokenizer",
    )
    settings = config.distributed()
    assert (settings.coordinator_address, settings.num_processes, settings.process_id) == ("10.0.0.1:1234", 4, 3)
    # the tokenizer joins the job when it is built (before any computation), and says what is missing
    with pytest.raises(ConfigError, match="coordinator_address needs num_processes and process_id"):
        VQGANTokenizer(tiny_config(coordinator_address="10.0.0.1:1234"))
