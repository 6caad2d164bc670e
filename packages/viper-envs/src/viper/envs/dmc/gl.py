"""Choosing MuJoCo's OpenGL backend for headless rendering, before dm_control is imported.

dm_control reads ``MUJOCO_GL`` once, when ``dm_control._render`` is first imported, and with it
unset tries GLFW first, which needs a display. So the choice has to be made before that import:

1. a ``MUJOCO_GL`` set by the user is honoured as is;
2. otherwise ``egl`` then ``osmesa`` are each probed in a short subprocess (creating a real GL
   context, since a library that loads may still fail to give a context, and PyOpenGL cannot
   switch platform within one process once it is imported);
3. the first that works is written into ``os.environ`` (so vector-env workers inherit it
   without probing again); if none works the error names the packages to install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, MutableMapping

from viper.core.errors import MissingDependencyError

CANDIDATES = ("egl", "osmesa")

#: What to install (Debian/Ubuntu) to get each backend.
INSTALL = {
    "egl": "apt-get install -y libegl1 libgl1-mesa-dri",
    "osmesa": "apt-get install -y libosmesa6",
    "glfw": "apt-get install -y libglfw3 (and run with a display)",
}

_PROBE = """
import os, sys
backend = sys.argv[1]
os.environ["MUJOCO_GL"] = backend
os.environ["PYOPENGL_PLATFORM"] = backend
if backend == "egl":
    from mujoco.egl import GLContext
elif backend == "osmesa":
    from mujoco.osmesa import GLContext
else:
    from mujoco.glfw import GLContext
context = GLContext(16, 16)
context.make_current()
context.free()
"""

_chosen: str | None = None
_failure: MissingDependencyError | None = None


def probe(backend: str, timeout: float = 60.0) -> tuple[bool, str]:
    """Whether a GL context can be created with ``backend`` (in a throwaway subprocess);
    returns ``(ok, last line of the error)``."""
    env = dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE, backend], env=env, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if result.returncode == 0:
        return True, ""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return False, lines[-1].strip() if lines else f"exit status {result.returncode}"


def missing_backend_error(reasons: Mapping[str, str]) -> MissingDependencyError:
    tried = "; ".join(f"{name}: {why}" for name, why in reasons.items())
    return MissingDependencyError(
        f"dmc: no OpenGL backend for headless MuJoCo rendering works (tried {tried}); install one with "
        f"`{INSTALL['egl']}` (egl, also works on CPUs through Mesa) or `{INSTALL['osmesa']}` (osmesa), "
        f"or set MUJOCO_GL to a backend that works here"
    )


def select_backend(
    environ: MutableMapping[str, str] | None = None,
    prober: Callable[[str], tuple[bool, str]] = probe,
    candidates: tuple[str, ...] = CANDIDATES,
) -> str:
    """The backend to use, written to ``environ["MUJOCO_GL"]``; raises
    :class:`~viper.core.errors.MissingDependencyError` naming what to install when none works."""
    environ = os.environ if environ is None else environ
    user = environ.get("MUJOCO_GL", "").strip()
    if user:
        return user
    reasons: dict[str, str] = {}
    for backend in candidates:
        ok, why = prober(backend)
        if ok:
            environ["MUJOCO_GL"] = backend
            # dm_control's EGL/OSMesa renderers insist PyOpenGL targets the same platform.
            environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
        reasons[backend] = why or "failed"
    raise missing_backend_error(reasons)


def ensure_backend(required: bool = True) -> str | None:
    """Select the backend once per process, before dm_control is imported.

    With ``required=False`` (physics only, no pixels) a missing backend is remembered instead of
    raised, so an env without rendering still works; the next ``required=True`` call raises it.
    """
    global _chosen, _failure
    if _chosen is None and _failure is None:
        if "dm_control._render" in sys.modules:
            # dm_control was imported before us: its choice stands (it cannot be changed now).
            from dm_control import _render

            if _render.BACKEND is None:
                _failure = missing_backend_error({"dm_control": "imported with no working backend"})
            elif _render.BACKEND == "glfw" and not os.environ.get("MUJOCO_GL") and not os.environ.get("DISPLAY"):
                _failure = MissingDependencyError(
                    "dmc: dm_control was imported before viper could choose a GL backend and picked glfw, "
                    "which needs a display; set MUJOCO_GL=egl (or osmesa) before importing dm_control"
                )
            else:
                _chosen = str(_render.BACKEND)
        else:
            try:
                _chosen = select_backend()
            except MissingDependencyError as exc:
                _failure = exc
                # Keep dm_control from picking GLFW, which would fail later and less clearly.
                os.environ["MUJOCO_GL"] = "disable"
    if _failure is not None and required:
        raise _failure
    return _chosen


def render_failure(exc: BaseException) -> MissingDependencyError:
    """The error to raise when rendering fails with the backend in use."""
    backend = os.environ.get("MUJOCO_GL", "?")
    hint = INSTALL.get(backend, f"`{INSTALL['egl']}` or `{INSTALL['osmesa']}`")
    return MissingDependencyError(
        f"dmc: rendering with MUJOCO_GL={backend} failed ({type(exc).__name__}: {exc}); "
        f"install it ({hint}) or set MUJOCO_GL to another backend (egl, osmesa), or unset it to let viper choose"
    )
