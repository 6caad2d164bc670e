"""Running the kit on installed components by name: what ``viper-run check-plugin`` prints.

Each component is built at a small size (its ``tiny`` preset, else ``debug``, plus any ``--set``
options), fitted on fake-suite data where its kind needs training, and checked; every rule gives
one :class:`Row`. A component whose declared requirements are missing (or whose plugin failed
to import) is *not checked*: a row says why, and it is neither a pass nor a failure.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from viper.core.errors import ComponentError, MissingDependencyError, PluginImportError, ViperError
from viper.core.plugins import ComponentRecord, PluginHost
from viper.core.testing.rules import Rulebook, RuleFailure

#: Presets tried, in order, to build a component small enough to check in seconds.
SMALL_PRESETS = ("tiny", "debug")
#: Frame side used for tokenizers, video models and rewards (agents and suites use 64).
SMALL_SIZE = 16

OK, FAILED, NOT_CHECKED = "ok", "FAILED", "not checked"


@dataclasses.dataclass
class Row:
    """One line of the table: a rule of a component (on a task, for env suites and agents)."""

    component: str
    kind: str
    subject: str
    rule: str
    result: str
    message: str = ""


def select(host: PluginHost, name: str, kind: str | None = None) -> list[ComponentRecord]:
    """The components ``name`` stands for: every component of a distribution, else every
    component so named (of ``kind``, if given)."""
    records = [c for c in host.components(kind) if c.plugin.distribution == name]
    return records or [c for c in host.components(kind) if c.name == name]


def failed_plugin_rows(host: PluginHost, name: str) -> list[Row]:
    """A row per plugin of distribution ``name`` that failed to import."""
    return [
        Row(p.distribution, "plugin", p.name, "import", FAILED, p.error_text)
        for p in host.failed_plugins()
        if p.distribution == name or p.name == name
    ]


def check_component(
    host: PluginHost, record: ComponentRecord, *, tasks: str = "3", options: dict[str, Any] | None = None
) -> Iterator[Row]:
    """Rows for every rule checked on ``record``'s component; see the module docstring."""
    label = f"{record.name} ({record.plugin.distribution})"
    try:
        host.get(record.kind, record.name)
        factory = host.load(record.kind, record.name)
    except (MissingDependencyError, PluginImportError) as exc:
        yield Row(label, record.kind, "-", "requirements", NOT_CHECKED, str(exc))
        return
    except ComponentError as exc:
        yield Row(label, record.kind, "-", "resolve", FAILED, str(exc))
        return
    try:
        runs = _RUNNERS[record.kind](host, record, factory, tasks, options or {})
    except (MissingDependencyError, PluginImportError) as exc:
        yield Row(label, record.kind, "-", "requirements", NOT_CHECKED, str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - building the component is the first thing checked
        yield Row(label, record.kind, "-", "build", FAILED, f"{type(exc).__name__}: {exc}")
        return
    for subject, run in runs:
        try:
            passed = run()
        except RuleFailure as exc:
            yield from (Row(label, record.kind, subject, rule, OK) for rule in exc.passed)
            yield Row(label, record.kind, subject, exc.rule, FAILED, exc.detail)
        except (MissingDependencyError, PluginImportError) as exc:
            yield Row(label, record.kind, subject, "requirements", NOT_CHECKED, str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. a bad --set option: the check could not start
            text = str(exc) if isinstance(exc, ViperError) else f"{type(exc).__name__}: {exc}"
            yield Row(label, record.kind, subject, "setup", FAILED, text)
        else:
            yield from (Row(label, record.kind, subject, rule, OK) for rule in passed)


def small_config(host: PluginHost, record: ComponentRecord, factory: Any, options: dict[str, Any]) -> Any:
    """The component's Config at its first :data:`SMALL_PRESETS` preset, then ``options``."""
    from viper.core.components import make_config, presets
    from viper.core.config import config_class

    cls = config_class(factory)
    if cls is None:
        return make_config(record.kind, record.name, options or None, host)
    preset = next((p for p in SMALL_PRESETS if p in presets(factory)), None)
    if preset is not None and any(f.name == "preset" for f in dataclasses.fields(cls)):
        return make_config(record.kind, record.name, {"preset": preset, **options}, host)
    return make_config(record.kind, record.name, options, host, preset=preset)


def pick_tasks(all_tasks: list[str], spec: str) -> list[str]:
    """``all``, a count (the first N tasks) or comma-separated task names."""
    if spec == "all":
        return list(all_tasks)
    if spec.isdigit():
        return list(all_tasks)[: max(1, int(spec))]
    chosen = [t.strip() for t in spec.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in all_tasks]
    if unknown:
        from viper.core.errors import ConfigError

        raise ConfigError(f"--tasks {spec}: unknown task {unknown[0]!r}; tasks: {', '.join(all_tasks)}")
    return chosen


# --------------------------------------------------------------------------------------------
# One runner per kind: (subject, zero-argument check) pairs


Run = tuple[str, Callable[[], list[str]]]


def _env_suite_runs(host: PluginHost, record: ComponentRecord, factory: Any, tasks: str, options: dict) -> list[Run]:
    from viper.core.components import load_suite
    from viper.core.testing.env_rules import check_env_suite

    suite = load_suite(record.name, host)
    return [(task, lambda task=task: check_env_suite(suite, task)) for task in pick_tasks(suite.tasks(), tasks)]


def _tokenizer_runs(host: PluginHost, record: ComponentRecord, factory: Any, tasks: str, options: dict) -> list[Run]:
    def run() -> list[str]:
        from viper.core.testing.contract_data import fit_tokenizer
        from viper.core.testing.tokenizer_rules import check_tokenizer

        fitted = Rulebook(f"tokenizer {record.name!r}")
        with tempfile.TemporaryDirectory() as tmp, fitted.rule("fit"):
            tokenizer = fit_tokenizer(factory(small_config(host, record, factory, options)), Path(tmp), SMALL_SIZE)
        return fitted.passed + check_tokenizer(tokenizer, name=record.name)

    return [(f"fake frames {SMALL_SIZE}x{SMALL_SIZE}", run)]


def _video_model_runs(host: PluginHost, record: ComponentRecord, factory: Any, tasks: str, options: dict) -> list[Run]:
    def run() -> list[str]:
        from viper.core.testing.contract_data import fit_tokenizer, fit_video_model
        from viper.core.testing.fake_tokenizer import FakeTokenizer
        from viper.core.testing.video_model_rules import check_video_model

        fitted = Rulebook(f"video model {record.name!r}")
        with tempfile.TemporaryDirectory() as tmp, fitted.rule("fit"):
            tokenizer = fit_tokenizer(FakeTokenizer(), Path(tmp) / "tokenizer", SMALL_SIZE)
            model = factory(small_config(host, record, factory, options))
            fit_video_model(model, tokenizer, Path(tmp) / "video_model")
        return fitted.passed + check_video_model(model, name=record.name)

    return [("fake tokenizer codes", run)]


def _reward_runs(host: PluginHost, record: ComponentRecord, factory: Any, tasks: str, options: dict) -> list[Run]:
    def run() -> list[str]:
        from viper.core.testing.contract_data import reward_context
        from viper.core.testing.fake_plugin import fake_host
        from viper.core.testing.reward_rules import check_reward

        built = Rulebook(f"reward {record.name!r}")
        with tempfile.TemporaryDirectory() as tmp:
            with built.rule("build"):
                context = reward_context(Path(tmp), SMALL_SIZE, host=fake_host())
                reward = factory(small_config(host, record, factory, options), context)
            return built.passed + check_reward(reward, size=SMALL_SIZE, name=record.name)

    return [("fake workdir", run)]


def _agent_runs(host: PluginHost, record: ComponentRecord, factory: Any, tasks: str, options: dict) -> list[Run]:
    from viper.core.testing.agent_rules import check_agent

    def run(task: str) -> list[str]:
        return check_agent(factory, small_config(host, record, factory, options), task=task, name=record.name)

    return [(f"fake:{task}", lambda task=task: run(task)) for task in ("reach", "steer")]


_RUNNERS: dict[str, Callable[..., list[Run]]] = {
    "env_suite": _env_suite_runs,
    "tokenizer": _tokenizer_runs,
    "video_model": _video_model_runs,
    "reward": _reward_runs,
    "agent": _agent_runs,
}
