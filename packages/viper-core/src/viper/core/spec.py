"""The description a plugin gives of each component it provides."""

from __future__ import annotations

import dataclasses
import re

#: The kinds of component, in pipeline order, with the hook that registers each.
KINDS: dict[str, str] = {
    "env_suite": "viper_register_env_suites",
    "tokenizer": "viper_register_tokenizers",
    "video_model": "viper_register_video_models",
    "reward": "viper_register_rewards",
    "agent": "viper_register_agents",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclasses.dataclass(frozen=True)
class ComponentSpec:
    """A component offered by a plugin, described without importing it.

    Listing plugins reads only these records, so a plugin's hook module must not import its
    heavy framework: ``target`` is imported only when the component is actually used.
    """

    name: str
    """Name users type on the command line, e.g. ``"vqgan"``; lower case, digits, ``-_.``."""
    target: str
    """Lazy ``"package.module:attribute"`` of the component's factory (usually a class)."""
    summary: str = ""
    """One line shown by ``viper-run plugins``."""
    framework: str = "numpy"
    """Framework the component computes with: ``numpy``, ``jax`` or ``torch``."""
    requires: tuple[str, ...] = ()
    """Distribution requirements checked before import, e.g. ``("jax>=0.4.30", "flax")``."""
    install_hint: str | None = None
    """What to tell a user whose requirements are missing; default ``pip install <requires>``."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"ComponentSpec name {self.name!r}: expected lower-case letters, digits, '-', '_' or '.'")
        if not isinstance(self.target, str) or not _TARGET.match(self.target):
            raise ValueError(f"ComponentSpec {self.name!r} target {self.target!r}: expected 'package.module:attribute'")
        if isinstance(self.requires, str):
            object.__setattr__(self, "requires", (self.requires,))
        else:
            object.__setattr__(self, "requires", tuple(self.requires))
