from __future__ import annotations

import sys
import types

import pytest

from viper.core import (
    ComponentSpec,
    DuplicateComponentError,
    MissingDependencyError,
    PluginHost,
    PluginImportError,
    UnknownComponentError,
)
from viper.core.plugins import ComponentRecord
from viper.core.testing.spec_plugin import make_plugin


def test_registered_component_resolves_and_loads(host: PluginHost) -> None:
    record = host.get("env_suite", "dots")
    assert record.plugin.distribution == "dots-dist"
    assert record.status == "ok"
    suite = host.load("env_suite", "dots")()
    assert suite.tasks() == ["right"]


def test_unknown_name_lists_available_and_provider(host: PluginHost) -> None:
    host.declare("tokenizer", "vqgan", "viper-tokenizers")  # what its `viper.provides` entry point says
    with pytest.raises(UnknownComponentError, match=r"unknown env suite 'nope'; available: dots"):
        host.get("env_suite", "nope")
    with pytest.raises(UnknownComponentError, match=r"install viper-tokenizers"):
        host.get("tokenizer", "vqgan")


def test_duplicate_name_names_both_distributions(host: PluginHost) -> None:
    host.register(
        make_plugin(viper_register_env_suites=[ComponentSpec("dots", "x.y:Z")]),
        name="other",
        distribution="other-dist",
    )
    with pytest.raises(DuplicateComponentError, match=r"dots-dist and other-dist"):
        host.get("env_suite", "dots")
    assert host.components("env_suite")[0].status == "duplicate"


def test_missing_requirement_is_reported_with_pip_hint() -> None:
    host = PluginHost(entry_points=False)
    host.register(
        make_plugin(viper_register_agents=[ComponentSpec("needy", "a.b:C", requires=("surely-not-installed-pkg>=1",))]),
        name="needy",
        distribution="needy-dist",
    )
    assert host.components("agent")[0].status == "missing dependency"
    with pytest.raises(MissingDependencyError, match=r"pip install 'surely-not-installed-pkg>=1'"):
        host.load("agent", "needy")


def test_custom_install_hint() -> None:
    host = PluginHost(entry_points=False)
    spec = ComponentSpec("sim", "a.b:C", requires=("no-such-sim",), install_hint="install CoppeliaSim first")
    host.register(make_plugin(viper_register_env_suites=[spec]), name="sim", distribution="sim-dist")
    with pytest.raises(MissingDependencyError, match="install CoppeliaSim first"):
        host.get("env_suite", "sim")


def test_requirement_version_is_checked() -> None:
    record = ComponentRecord("agent", ComponentSpec("x", "a:b", requires=("pluggy>=999",)), None)  # type: ignore[arg-type]
    assert record.missing_requirements() == ["pluggy>=999"]
    record = ComponentRecord("agent", ComponentSpec("x", "a:b", requires=("pluggy>=1",)), None)  # type: ignore[arg-type]
    assert record.missing_requirements() == []


def test_broken_hook_is_recorded_and_others_keep_working(host: PluginHost) -> None:
    def broken():
        raise RuntimeError("kaboom")

    ns = types.SimpleNamespace(viper_register_rewards=__import__("viper.core").core.hookimpl(broken))
    host.register(ns, name="broken", distribution="broken-dist")
    assert [c.name for c in host.components("env_suite")] == ["dots"]
    failed = host.failed_plugins()
    assert [p.distribution for p in failed] == ["broken-dist"]
    assert "kaboom" in failed[0].error_text


def test_failed_plugin_error_is_reraised_for_its_components() -> None:
    host = PluginHost(entry_points=False)
    host.declare("tokenizer", "vqgan", "viper-tokenizers")
    record = host.register(types.SimpleNamespace(), name="tokenizers", distribution="viper-tokenizers")
    host._fail(record, ImportError("no module named flax"))
    with pytest.raises(PluginImportError, match="no module named flax"):
        host.get("tokenizer", "vqgan")


def test_target_import_failure_names_component() -> None:
    host = PluginHost(entry_points=False)
    host.register(
        make_plugin(viper_register_agents=[ComponentSpec("ghost", "no_such_module_xyz:Agent")]),
        name="g",
        distribution="g-dist",
    )
    with pytest.raises(
        PluginImportError, match=r"agent 'ghost' from g-dist: importing no_such_module_xyz:Agent failed"
    ):
        host.load("agent", "ghost")


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="target"):
        ComponentSpec("ok", "no-colon")
    with pytest.raises(ValueError, match="name"):
        ComponentSpec("Bad Name", "a:b")
    assert ComponentSpec("x", "a:b", requires="numpy").requires == ("numpy",)


def test_entry_points_load_and_disable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Entry points are loaded one at a time; a failing one is recorded; disabled ones skipped."""
    import importlib.metadata as md

    good = tmp_path / "good_plugin_mod.py"
    good.write_text(
        "from viper.core import ComponentSpec, hookimpl\n"
        "@hookimpl\n"
        "def viper_register_agents():\n"
        "    return [ComponentSpec('g', 'good_plugin_mod:X')]\n"
    )
    (tmp_path / "bad_plugin_mod.py").write_text("raise ImportError('bad plugin cannot import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Dist:
        def __init__(self, name):
            self.name, self.version = name, "0.0.1"

    eps = [
        md.EntryPoint("good", "good_plugin_mod", "viper"),
        md.EntryPoint("bad", "bad_plugin_mod", "viper"),
    ]
    eps = [ep._for(Dist(f"{ep.name}-dist")) if hasattr(ep, "_for") else ep for ep in eps]
    monkeypatch.setattr(md, "entry_points", lambda group=None: eps if group == "viper" else [])
    host = PluginHost()
    assert host.names("agent") == ["g"]
    assert [p.name for p in host.failed_plugins()] == ["bad"]
    assert "bad plugin cannot import" in host.failed_plugins()[0].error_text

    monkeypatch.setenv("VIPER_DISABLE_PLUGINS", "good, bad")
    sys.modules.pop("good_plugin_mod", None)
    host = PluginHost()
    assert host.names("agent") == []
    assert host.failed_plugins() == []
    assert {name for name, _ in host.disabled} == {"good", "bad"}


def test_providers_are_declared_as_data_and_named_when_their_plugin_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution's `viper.provides` entry points name its components without importing it."""
    import importlib.metadata as md

    class Dist:
        name, version = "sim-dist", "1.0"

    eps = {
        "viper": [md.EntryPoint("sim", "no_such_sim_plugin_module", "viper")],
        "viper.provides": [md.EntryPoint("env_suite:sim", "no_such_sim_plugin_module", "viper.provides")],
    }
    eps = {g: [ep._for(Dist()) if hasattr(ep, "_for") else ep for ep in items] for g, items in eps.items()}
    monkeypatch.setattr(md, "entry_points", lambda group=None: eps.get(group, []))
    host = PluginHost()
    assert host.providers == {("env_suite", "sim"): "sim-dist"}
    with pytest.raises(PluginImportError, match=r"env suite 'sim' would come from plugin 'sim' \(sim-dist\)"):
        host.get("env_suite", "sim")
    assert "sim-dist" not in PluginHost(entry_points=False)._unknown_message("env_suite", "sim")


def test_message_builders_return_strings(host: PluginHost) -> None:
    host.declare("tokenizer", "vqgan", "viper-tokenizers")
    record = host.register(types.SimpleNamespace(), name="tokenizers", distribution="viper-tokenizers")
    host._fail(record, ImportError("no module named flax"))
    assert "available" in host._unknown_message("tokenizer", "vqgan")  # builds, never raises
