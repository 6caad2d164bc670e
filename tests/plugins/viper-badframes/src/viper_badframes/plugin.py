from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_env_suites():
    return [ComponentSpec("badframes", "viper_badframes.suite:BadFramesSuite", "renders float32 frames (broken)")]
