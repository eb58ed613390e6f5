"""Old Python names kept for one release: each warns and gives the new one."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Dict, Tuple


def module_getattr(module: str, aliases: Dict[str, Tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that serves ``aliases`` (old name ->
    (new name, in full when it has a dot, and object)) with a DeprecationWarning and raises AttributeError
    for any other name."""

    def __getattr__(name: str) -> Any:
        if name in aliases:
            new_name, value = aliases[name]
            # A dotted new name lives in another module and is given in full.
            use = new_name if "." in new_name else f"{module}.{new_name}"
            warnings.warn(f"{module}.{name} is deprecated: use {use}", DeprecationWarning, stacklevel=2)
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

