"""One registry type for every name a user can pick (attacks, loaders, judges, families, backends, data
sources), and one plugin loader.

A :class:`Registry` maps names (and aliases) to objects. Built-ins may be *lazy*: a name mapped to the module
whose import registers it, so ``unmask --help`` does not import torch. Registering a name twice with a different
object is an error unless ``replace=True`` (one duplicate policy for all kinds); re-registering the very same
object (a module imported twice) is harmless.

Plugins: every entry point of the group ``unmask.plugins`` names a module (``pkg.mod``) or a function
(``pkg.mod:register``); the module is imported (and the function called) once, the first time any registry
cannot resolve a name or lists its names. A plugin registers with the public decorators of each kind, exactly
like the built-ins do; the tiny world is one such plugin. Declare one in your ``pyproject.toml``::

    [project.entry-points."unmask.plugins"]
    mything = "mything.unmask_plugin"
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import UnmaskError

T = TypeVar("T")

PLUGIN_GROUP = "unmask.plugins"
#: The group ``unmask attack`` read before there was one loader; still read (documented in unmask.attacks).
LEGACY_GROUPS = ("unmask.attacks",)

_plugins_lock = threading.RLock()
_plugins_loaded = False
_plugins_error: str | None = None  # a broken plugin is reported every time plugins are needed, not once
_REGISTRIES: dict[str, Registry[Any]] = {}
_DEFERRED: dict[str, dict[str, str]] = {}


def lazy(kind: str, name: str, module: str) -> None:
    """Declare that importing ``module`` registers ``name`` in the registry of ``kind`` (its ``kind`` string,
    e.g. "attack kind"), without importing that registry's module: a plugin stays cheap to load, so
    ``unmask --help`` stays fast."""
    with _plugins_lock:
        reg = _REGISTRIES.get(kind)
        if reg is not None:
            reg.lazy(name, module)
        else:
            _DEFERRED.setdefault(kind, {})[name] = module


def deferred(kind: str) -> dict[str, str]:
    """Names declared with :func:`lazy` for ``kind`` before its registry existed (for dict-based registries)."""
    with _plugins_lock:
        return dict(_DEFERRED.get(kind, {}))


def load_plugins() -> None:
    """Import every ``unmask.plugins`` entry point once (idempotent; a broken plugin is a one-line error).

    The legacy group ``unmask.attacks`` (a module that registers attack kinds or loaders) is read too.
    """
    global _plugins_loaded, _plugins_error
    with _plugins_lock:
        if not _plugins_loaded:
            _plugins_loaded = True
            _plugins_error = None
            from importlib.metadata import entry_points

            for ep in [ep for group in (PLUGIN_GROUP, *LEGACY_GROUPS) for ep in entry_points(group=group)]:
                try:
                    obj = ep.load()
                    if callable(obj) and ":" in ep.value:
                        obj()
                except UnmaskError as e:
                    _plugins_error = str(e)
                    break
                except Exception as e:  # noqa: BLE001 -- any plugin failure becomes one line naming the plugin
                    why = " ".join(f"{type(e).__name__}: {e}".split())
                    _plugins_error = f"plugin {ep.name!r} ({ep.value}) failed to load: {why}"
                    break
        if _plugins_error is not None:
            raise UnmaskError(_plugins_error)


class Registry(Generic[T]):
    """Names -> objects of one kind (``kind`` names it in errors: "unknown judge 'x' (choose from ...)")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._lazy: dict[str, str] = {}
        self._lock = threading.RLock()
        with _plugins_lock:
            _REGISTRIES[kind] = self
            self._lazy.update(_DEFERRED.pop(kind, {}))

    # -- registering ---------------------------------------------------------------------------------------------
    def add(self, name: str, obj: T, *, aliases: tuple[str, ...] = (), replace: bool = False) -> T:
        """Register ``obj`` under ``name`` (and ``aliases``); a different object under a taken name is an error."""
        with self._lock:
            for key in (name, *aliases):
                old = self._items.get(self._aliases.get(key, key))
                if old is not None and old is not obj and not replace and not _same_definition(old, obj):
                    raise UnmaskError(f"{self.kind} {key!r} is registered twice (pass replace=True to override)")
            self._items[name] = obj
            self._lazy.pop(name, None)
            for alias in aliases:
                self._aliases[alias] = name
        return obj

    def register(self, name: str, *, aliases: tuple[str, ...] = (), replace: bool = False) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(obj: T) -> T:
            return self.add(name, obj, aliases=aliases, replace=replace)

        return deco

    def lazy(self, name: str, module: str, *, aliases: tuple[str, ...] = ()) -> None:
        """A built-in registered by importing ``module`` the first time ``name`` (or an alias) is asked for."""
        with self._lock:
            if name not in self._items:
                self._lazy[name] = module
            for alias in aliases:
                self._aliases.setdefault(alias, name)

    def pop(self, name: str, default: T | None = None) -> T | None:
        """Unregister ``name`` (and its aliases); what was registered, or ``default`` (tests, reloads)."""
        with self._lock:
            for alias in [a for a, n in self._aliases.items() if n == name]:
                del self._aliases[alias]
            self._lazy.pop(name, None)
            return self._items.pop(name, default)

    # -- resolving -----------------------------------------------------------------------------------------------
    def _resolve(self, name: str) -> T | None:
        key = self._aliases.get(name, name)
        if key in self._items:
            return self._items[key]
        module = self._lazy.get(key)
        if module is not None:
            importlib.import_module(module)
            key = self._aliases.get(name, name)
            if key in self._items:
                return self._items[key]
        return None

    def get(self, name: str) -> T:
        """The object named ``name``; plugins are loaded before giving up; unknown names are a one-line error."""
        with self._lock:
            obj = self._resolve(name)
        if obj is None:
            load_plugins()  # outside this registry's lock: a plugin registers into several registries
            with self._lock:
                obj = self._resolve(name)
        if obj is None:
            raise UnmaskError(f"unknown {self.kind} {name!r} (choose from {', '.join(self.names())})")
        return obj

    def lazy_map(self) -> dict[str, str]:
        """Lazy names not imported yet -> the module whose import registers them."""
        with self._lock:
            return dict(self._lazy)

    def names(self) -> list[str]:
        """Every name (registered, lazy and plugin-provided), sorted; aliases not included."""
        load_plugins()
        with self._lock:
            return sorted(set(self._items) | set(self._lazy))

    def load_all(self) -> dict[str, T]:
        """Import every lazy built-in and plugin; name -> object."""
        for name in self.names():
            self._resolve(name)
        with self._lock:
            return dict(self._items)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        with self._lock:
            key = self._aliases.get(name, name)
            if key in self._items or key in self._lazy:
                return True
        load_plugins()
        with self._lock:
            key = self._aliases.get(name, name)
            return key in self._items or key in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _same_definition(old: Any, new: Any) -> bool:
    """A class or function defined again by re-importing its module (same qualified name): not a clash.
    Instances (a family is registered as one) compare by their classes."""
    if not hasattr(old, "__qualname__") and not hasattr(new, "__qualname__"):
        old, new = type(old), type(new)
    return (
        getattr(old, "__module__", None) is not None
        and getattr(old, "__module__", None) == getattr(new, "__module__", object())
        and getattr(old, "__qualname__", None) == getattr(new, "__qualname__", object())
    )
