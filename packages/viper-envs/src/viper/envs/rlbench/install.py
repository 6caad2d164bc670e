"""How to install RLBench (kept import-free: the plugin hook module reads it)."""

#: Distributions the suite needs (checked by ``viper-run plugins`` without importing them).
REQUIRES = ("rlbench", "pyrep")

INSTALL_HINT = (
    "RLBench needs CoppeliaSim 4.1 + PyRep + RLBench (not on PyPI): download CoppeliaSim 4.1.0 for your "
    "Ubuntu from coppeliarobotics.com, export COPPELIASIM_ROOT=<its folder>, "
    "LD_LIBRARY_PATH=$COPPELIASIM_ROOT:$LD_LIBRARY_PATH and QT_QPA_PLATFORM_PLUGIN_PATH=$COPPELIASIM_ROOT, then "
    "pip install git+https://github.com/stepjam/PyRep.git git+https://github.com/stepjam/RLBench.git "
    "(headless machines also need xvfb-run)"
)
