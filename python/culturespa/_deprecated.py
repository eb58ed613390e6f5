"""Old Python names kept for one release: each warns and gives the new one."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Tuple


def module_getattr(module: str, aliases: Dict[str, Tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that serves ``aliases`` (old name ->
    (new name, object)) with a DeprecationWarning and raises AttributeError
    for any other name."""

    def __getattr__(name: str) -> Any:
        if name in aliases:
            new_name, value = aliases[name]
            warnings.warn(f"{module}.{name} is deprecated: use {module}.{new_name}", DeprecationWarning,
                          stacklevel=2)
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

