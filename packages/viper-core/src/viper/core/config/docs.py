"""Field docstrings of config dataclasses and the option listing built from them."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing

from viper.core.config.constraints import field_check, option_text


def field_docs(cls: type) -> dict[str, str]:
    """Field docstrings of a config dataclass (the string literal following each field),
    inherited fields included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is not object and dataclasses.is_dataclass(klass):
            docs.update(_own_field_docs(klass))
    return docs


def describe_options(cls: type, section: str) -> list[tuple[str, str, str]]:
    """``(option, default and constraint, docstring)`` per field of a config dataclass, e.g.
    ``("--set loop.num_envs=1", "an integer >= 1", "Environments stepped in parallel.")``;
    what ``viper-run plugins --options NAME`` prints."""
    docs, hints = field_docs(cls), typing.get_type_hints(cls)
    own = set(vars(cls).get("__annotations__", {}))
    rows = []
    # The class's own fields first: inherited ones (the multi-host settings) matter to few.
    for f in sorted(dataclasses.fields(cls), key=lambda f: f.name not in own):
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        check = field_check(f, hints.get(f.name))
        rule = check.describe(hints.get(f.name)) if check is not None else ""
        rows.append((option_text(f"--set {section}", f.name, default), rule, docs.get(f.name, "")))
    return rows


def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(inspect.cleandoc(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(following.value.value)
    return docs
