from viper.core import ComponentSpec, hookimpl


@hookimpl
def viper_register_rewards():
    return [ComponentSpec("smooth", "viper_hello.smooth:SmoothReward", "penalises pixel change between frames")]
