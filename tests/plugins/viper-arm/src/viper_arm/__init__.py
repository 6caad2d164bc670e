"""viper-arm: a third-party env suite built from viper's plugin guide (a two-link arm)."""
