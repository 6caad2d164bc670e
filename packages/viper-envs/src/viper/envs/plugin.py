"""viper-envs' hook implementations: which env suites this distribution provides.

Only names and requirements live here (no suite is imported), so ``viper-run plugins`` can show
a suite whose dependencies are missing together with how to install them.
"""

from __future__ import annotations

from viper.core import ComponentSpec, hookimpl
from viper.envs.rlbench.install import INSTALL_HINT as RLBENCH_INSTALL_HINT
from viper.envs.rlbench.install import REQUIRES as RLBENCH_REQUIRES

#: What MuJoCo suites need besides their extra to render without a display.
HEADLESS_GL = (
    "(headless rendering also needs `apt-get install -y libegl1 libgl1-mesa-dri` or `apt-get install -y libosmesa6`)"
)


@hookimpl
def viper_register_env_suites() -> list[ComponentSpec]:
    return [
        ComponentSpec(
            name="lite",
            target="viper.envs.lite:LiteSuite",
            summary="2D reach / push / balance rendered with numpy; fast, no simulator",
            framework="numpy",
        ),
        ComponentSpec(
            name="dmc",
            target="viper.envs.dmc:DMCSuite",
            summary="DeepMind Control Suite (dmc:cartpole-swingup, ...), 64x64 pixels, scripted experts",
            framework="numpy",
            requires=("dm-control>=1.0.16", "mujoco>=3.17,<4"),
            install_hint=f"pip install 'viper-envs[dmc]' {HEADLESS_GL}",
        ),
        ComponentSpec(
            name="atari",
            target="viper.envs.atari:AtariSuite",
            summary="Atari 2600 games through ale-py (atari:pong, ...), 64x64, score masks",
            framework="numpy",
            requires=("ale-py>=0.9",),
            install_hint="pip install 'viper-envs[atari]'",
        ),
        ComponentSpec(
            name="metaworld",
            target="viper.envs.metaworld:MetaWorldSuite",
            summary="Meta-World v3 manipulation (metaworld:reach, ...), 64x64, success flag, scripted experts",
            framework="numpy",
            requires=("metaworld>=3.0", "mujoco>=3.17,<4"),
            install_hint=f"pip install 'viper-envs[metaworld]' {HEADLESS_GL}",
        ),
        ComponentSpec(
            name="rlbench",
            target="viper.envs.rlbench.suite:RLBenchSuite",
            summary="the paper's six RLBench manipulation tasks, front and wrist cameras",
            framework="numpy",
            requires=RLBENCH_REQUIRES,
            install_hint=RLBENCH_INSTALL_HINT,
        ),
    ]
