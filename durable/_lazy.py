"""Public names that load their module on first use, for packages that must import cheaply."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from importlib import import_module
from typing import Any

#: Where a name lives: its module (relative to the package), or its module and its name there.
Home = str | tuple[str, str]


def lazy_names(
    module_name: str,
    homes: Mapping[str, Home],
    exported: Iterable[str],
    namespace: MutableMapping[str, Any],
    *,
    cache: bool,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of module ``module_name`` (whose ``globals()`` is
    ``namespace``) for the names in ``homes``.

    With ``cache`` a name is kept in ``namespace`` after its first lookup; without, every
    lookup follows the name to its module (so a test patching it there is seen).
    """
    names = sorted(set(exported))
    anchor = namespace["__package__"]  # relative homes are relative to the package

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        module, attribute = home if isinstance(home, tuple) else (home, name)
        value = getattr(import_module(module, anchor), attribute)
        if cache:
            namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
