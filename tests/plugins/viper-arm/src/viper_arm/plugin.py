"""The hook viper finds through the ``viper`` entry point; the suite itself is imported lazily."""

from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_env_suites():
    return [
        ComponentSpec(
            "arm",
            "viper_arm.suite:ArmSuite",
            "a planar two-link arm whose fingertip must reach a target (numpy)",
            framework="numpy",
        )
    ]
