"""Configuration: the YAML defaults in `configs/`, deep-merged with a user's file.

Every file `configs/a/b.yaml` becomes the key path `a.b` of one tree, so
`configs/lexicons/ru.yaml` is `lexicons.ru` and a user's override file only
names what differs::

    company:
      names: [Acme Bank, Акме Банк]
    models:
      asr: {model: large-v3-turbo}

Sections with a schema (pydantic models listed in `SECTION_MODULES`) are
validated at load time; an invalid value fails before any call is processed,
naming the file it came from and the key.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from callqa.pipeline.errors import ConfigError

# Modules that declare `CONFIG_SECTIONS: dict[str, type[BaseModel]]`, keyed by a
# dotted key path in the tree (`*` matches any one key, e.g. "lexicons.*"), and
# optionally `CONFIG_CHECKS`: functions(config) that check references between
# sections and raise ConfigError.
SECTION_MODULES = (
    "callqa.pipeline.settings",
    "callqa.pipeline.signals.settings",
    "callqa.pipeline.scoring.settings",
    "callqa.pipeline.scoring.categories",
    "callqa.pipeline.people.library_settings",
    "callqa.web.settings",
    "callqa.pipeline.qa.alerts",
    "callqa.pipeline.qa.forms",
    "callqa.pipeline.qa.sampling",
)

# What a call's identity is made of (and which sections change no result) is defined in one
# place: pipeline/identity.py. `Config.hash` is its `config_hash`.

_MISSING = object()
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster


def default_config_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "configs"


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(path, "<file>", f"cannot read: {e.strerror or e}") from None
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        pos = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        raise ConfigError(path, "<file>", f"not valid YAML{pos}: {getattr(e, 'problem', e)}") from None


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: `over` merged into `base`; mappings merge, everything else replaces."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _load_defaults(root: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], Path]]:
    tree: dict[str, Any] = {}
    files: dict[tuple[str, ...], Path] = {}
    for path in sorted(root.rglob("*.yaml")):
        keys = tuple(path.relative_to(root).with_suffix("").parts)
        data = _read_yaml(path)
        if data is None:
            data = {}
        node = tree
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = data
        files[keys] = path
    return tree, files


@lru_cache(maxsize=1)
def _schemas() -> tuple[tuple[tuple[str, type[BaseModel]], ...], tuple[Any, ...]]:
    sections: list[tuple[str, type[BaseModel]]] = []
    checks: list[Any] = []
    for name in SECTION_MODULES:
        mod = importlib.import_module(name)
        sections.extend(getattr(mod, "CONFIG_SECTIONS", {}).items())
        checks.extend(getattr(mod, "CONFIG_CHECKS", ()))
    return tuple(sections), tuple(checks)


def check_unique(ids: Any, what: str) -> None:
    """For schemas: ValueError naming the first id of `ids` that appears twice (`what`: e.g. "stage id")."""
    seen: set[Any] = set()
    for i in ids:
        if i in seen:
            raise ValueError(f"{what} {i!r} appears twice")
        seen.add(i)


def match_keys(tree: Mapping[str, Any], pattern: str) -> list[tuple[tuple[str, ...], Any]]:
    """All (key path, value) in `tree` matching a dotted pattern with `*` wildcards (config
    sections here, the identity of each stage in pipeline/identity.py)."""
    found: list[tuple[tuple[str, ...], Any]] = [((), tree)]
    for part in pattern.split("."):
        nxt = []
        for keys, node in found:
            if not isinstance(node, Mapping):
                continue
            if part == "*":
                nxt.extend((keys + (str(k),), v) for k, v in node.items())
            elif part in node:
                nxt.append((keys + (part,), node[part]))
        found = nxt
    return found


@dataclass(frozen=True)
class Config:
    """The merged, validated configuration. Treat as read-only."""

    tree: Mapping[str, Any]
    hash: str
    files: tuple[str, ...]
    validated: Mapping[tuple[str, ...], BaseModel]

    def get(self, dotted: str, default: Any = _MISSING) -> Any:
        node: Any = self.tree
        for part in dotted.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif default is not _MISSING:
                return default
            else:
                raise KeyError(f"configuration has no key {dotted!r}")
        return node

    def section(self, dotted: str) -> Any:
        """The validated model for a section that has a schema, else its raw value."""
        keys = tuple(dotted.split("."))
        if keys in self.validated:
            return self.validated[keys]
        return self.get(dotted)


def load_config(user_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None,
                config_dir: Path | None = None) -> Config:
    """Defaults from `config_dir` (the project's `configs/`), then `user_file`, then
    `overrides` (a nested dict, e.g. from tests), validated."""
    root = config_dir or default_config_dir()
    tree, default_files = _load_defaults(root)
    user_tree: Mapping[str, Any] = {}
    if user_file is not None:
        user_path = Path(user_file)
        if not user_path.is_file():
            raise ConfigError(user_path, "<file>", "no such file")
        data = _read_yaml(user_path)
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(user_path, "<top level>", "must be a mapping of sections")
        for k in data:
            if k not in tree:
                raise ConfigError(user_path, str(k), f"unknown section (known: {', '.join(sorted(tree))})")
        user_tree = data
        tree = deep_merge(tree, data)
    if overrides:
        tree = deep_merge(tree, overrides)

    def origin(keys: tuple[str, ...]) -> str:
        # The user's file when it sets this key, else the default file that holds it.
        if user_file is not None and _has_prefix(user_tree, keys):
            return str(user_file)
        for n in range(len(keys), 0, -1):
            if keys[:n] in default_files:
                return str(default_files[keys[:n]])
        return str(root)

    validated: dict[tuple[str, ...], BaseModel] = {}
    sections, checks = _schemas()
    for pattern, model in sections:
        for keys, value in match_keys(tree, pattern):
            try:
                validated[keys] = model.model_validate(value if value is not None else {})
            except ValidationError as e:
                err = e.errors()[0]
                sub = tuple(str(p) for p in err.get("loc", ()))
                full = keys + sub
                raise ConfigError(origin(full), ".".join(full), err.get("msg", "invalid value")) from None

    from callqa.pipeline.identity import config_hash

    digest = config_hash(tree)  # the sections that change a result (pipeline/identity.py)
    files = tuple(str(p) for p in default_files.values()) + ((str(user_file),) if user_file else ())
    config = Config(tree=tree, hash=digest, files=files, validated=validated)
    for check in checks:
        check(config)
    return config


def _has_prefix(tree: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    """True when `tree` holds the key path `keys`."""
    node: Any = tree
    for k in keys:
        if isinstance(node, Mapping) and k in node:
            node = node[k]
        elif isinstance(node, list) and k.isdigit() and int(k) < len(node):
            node = node[int(k)]
        else:
            return False
    return True
