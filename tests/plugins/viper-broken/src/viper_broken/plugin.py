"""A plugin whose hook module cannot be imported: viper must report it and keep working."""

import this_dependency_does_not_exist  # noqa: F401
