"""One way from YAML to frozen dataclasses: bounded parsing, typed building, dotted overrides.

Profiles, training and pretraining recipes, the edge config and node parameters all go through here,
so every one of them refuses the same things with the same kind of message:

- ``load_yaml`` refuses a document over ``MAX_YAML_BYTES`` before parsing it, and one whose aliases
  expand to more than ``MAX_YAML_NODES`` nodes before building any Python object from it (a 509-byte
  "billion laughs" file would otherwise take gigabytes);
- ``build`` maps a mapping onto a dataclass by its type hints (bool, int, finite float, str, Enum by
  value, nested dataclasses, tuples, ``dict[str, Any]``, unions), rejects unknown keys and checks the
  ``param(...)`` metadata (range, choices) of any field;
- messages name the field as ``<prefix> field <path> is <value>; expected <what>`` (``parameter <path>``
  for ROS node parameters) with the value cut to ``MAX_VALUE_CHARS`` characters.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from ros_ssl.errors import ConfigError

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # Python 3.10 has it only under its older name
    from importlib.abc import Traversable

# No configuration file comes near these; a document beyond them is a mistake or an attack.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_NODES = 100_000
# Values quoted in error messages are cut to this many characters.
MAX_VALUE_CHARS = 80

T = TypeVar("T")

# libyaml when installed: parsing is the one cost a document may impose before it is refused.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLURAL = {"a number": "numbers", "a finite number": "finite numbers", "an integer": "integers",
           "a string": "strings", "true or false": "booleans"}


def short(value: object) -> str:
    """``repr(value)``, cut to ``MAX_VALUE_CHARS`` characters so no message grows with its input."""
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


# --- bounded YAML -------------------------------------------------------------------------------------


def load_yaml(source: str | Path | Traversable, where: str) -> Any:
    """One YAML document from text (``str``) or a file, as plain Python objects; ConfigError naming ``where``.

    The size is checked before parsing and the alias-expanded node count before construction, so a
    hostile document costs at most one bounded parse.
    """
    if isinstance(source, str):
        raw = source.encode()
    else:
        with source.open("rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{where}: YAML document is larger than {MAX_YAML_BYTES} bytes; "
                          "refusing to load it")
    loader = _LOADER(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node_count(node, where)
        return loader.construct_document(node)
    except (yaml.YAMLError, ValueError) as err:
        raise ConfigError(f"{where}: not valid YAML ({(str(err).splitlines() or [''])[0]})") from err
    except RecursionError as err:
        raise ConfigError(f"{where}: YAML document is nested too deeply; refusing to load it") from err
    finally:
        loader.dispose()


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_node_count(root: Node, where: str) -> None:
    """Refuse a node graph that expands (aliases followed) beyond MAX_YAML_NODES, or that contains itself.

    Aliases share node objects, so counting each distinct node once (memoised by identity) is cheap even
    when the expansion is astronomically large. Iterative, so deep nesting cannot exhaust the stack.
    """
    counts: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            counts[key] = 1 + sum(counts[id(child)] for child in _children(node))
            if counts[key] > MAX_YAML_NODES:
                raise ConfigError(f"{where}: YAML document expands to more than {MAX_YAML_NODES} nodes "
                                  f"(alias bomb?); refusing to load it")
        elif key not in counts:
            if key in on_path:
                raise ConfigError(f"{where}: YAML document contains itself through an alias; "
                                  "refusing to load it")
            on_path.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in counts)


# --- dataclasses from mappings ------------------------------------------------------------------------


class _Mismatch(Exception):
    """A value is not of its field's type; ``expected`` says what would be."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def field_name(prefix: str, path: str) -> str:
    """How messages name a field: ``recipe field lr``; node parameters are flat: ``parameter rate``."""
    return f"parameter {path}" if prefix == "parameter" else f"{prefix} field {path}"


def check(ok: bool, prefix: str, where: str, value: object, expected: str) -> None:
    """Raise ConfigError ``<prefix> field WHERE is VALUE; expected EXPECTED`` unless ``ok``.

    For ``validate()`` methods, so every range check words its message the same way.
    """
    if not ok:
        raise ConfigError(f"{field_name(prefix, where)} is {short(value)}; expected {expected}")


def build(cls: type[T], data: Any, prefix: str, where: str = "") -> T:
    """Dataclass ``cls`` from mapping ``data``: each value converted to its field's type hint and checked
    against the field's ``param(...)`` metadata; missing fields take their defaults. ``prefix`` names the
    kind of config in messages ("profile", "recipe", "edge config", "parameter"); ``where`` is the dotted
    path of this section."""
    section = where or "<root>"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix} section {section} must be a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted((k for k in data if k not in known), key=str)
    if unknown:
        raise ConfigError(f"{prefix} section {section} has unknown key(s) {short(unknown)}; "
                          f"known: {sorted(known)}")
    missing = [name for name, f in known.items() if name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{prefix} section {section} is incomplete: missing {', '.join(missing)}")
    hints = get_type_hints(cls)
    kwargs = {key: _field_value(hints[key], known[key].metadata, value, prefix,
                                f"{where}.{key}" if where else key)
              for key, value in data.items()}
    return cls(**kwargs)


def validate_fields(instance: T, prefix: str) -> T:
    """Check an already built dataclass (e.g. made with ``dataclasses.replace``) the way ``build`` would."""
    return build(type(instance), _shallow(instance), prefix)


def coerce(hint: Any, value: Any, prefix: str, path: str) -> Any:
    """``value`` as type ``hint``, for one named value outside a dataclass; ConfigError naming ``path``."""
    return _field_value(hint, {}, value, prefix, path)


def _shallow(instance: Any) -> dict[str, Any]:
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


def _field_value(hint: Any, meta: Mapping[str, Any], value: Any, prefix: str, path: str) -> Any:
    try:
        out = _coerce(hint, value, prefix, path)
    except _Mismatch as err:
        raise ConfigError(f"{field_name(prefix, path)} is {short(value)}; expected {err.expected}") from None
    rng = meta.get("range")
    if rng is not None:
        check(rng[0] <= out <= rng[1], prefix, path, out, f"a value in [{rng[0]}, {rng[1]}]")
    choices = meta.get("choices")
    if choices:
        check(out in choices, prefix, path, out, f"one of {', '.join(choices)}")
    return out


def _coerce(hint: Any, value: Any, prefix: str, path: str) -> Any:
    """``value`` as ``hint``; _Mismatch if it is not one, ConfigError from a nested section."""
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # type: ignore[arg-type]
            value = _shallow(value)
        return build(hint, value, prefix, path)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except (ValueError, TypeError):
            raise _Mismatch(_alternatives([repr(m.value) for m in hint])) from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch("true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch("an integer")
    if hint is float:
        return _finite(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch("a string")
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return _union(args, value, prefix, path)
    if origin is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise _Mismatch("a mapping")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis and dataclasses.is_dataclass(args[0]):
            return _records(args[0], value, prefix, path)
        return _tuple(args, value, prefix, path)
    raise TypeError(f"schema cannot build {path} of type {hint!r}")


# YAML 1.1 (PyYAML) reads 1e-3, 1E5 and 1.5e3 as strings (it wants a dot and a signed exponent):
# a float field takes them as the numbers everybody means.
_EXPONENT = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)[eE][-+]?\d+")


def _finite(value: Any) -> float:
    if isinstance(value, str) and _EXPONENT.fullmatch(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Mismatch("a number")
    try:
        out = float(value)
    except OverflowError:
        raise _Mismatch("a finite number") from None
    if not math.isfinite(out):
        raise _Mismatch("a finite number")
    return out


def _alternatives(options: Sequence[str]) -> str:
    return " or ".join(options) if len(options) <= 2 else f"one of {', '.join(options)}"


def _union(members: tuple[Any, ...], value: Any, prefix: str, path: str) -> Any:
    """The first member type ``value`` converts to (``str | float``, ``X | None``)."""
    expected: list[str] = []
    for member in members:
        if member is type(None):
            if value is None:
                return None
            expected.append("null")
            continue
        try:
            return _coerce(member, value, prefix, path)
        except _Mismatch as err:
            expected.append(err.expected)
    raise _Mismatch(" or ".join(expected))


def _tuple(args: tuple[Any, ...], value: Any, prefix: str, path: str) -> tuple[Any, ...]:
    """``tuple[X, ...]`` or a fixed ``tuple[X, Y, Z]`` of scalars from a list; the whole list is named."""
    variadic = len(args) == 2 and args[1] is Ellipsis
    count = "" if variadic else f"{len(args)} "

    def mismatch(expected: str) -> _Mismatch:
        return _Mismatch(f"a list of {count}{_PLURAL.get(expected, 'values')}")

    if not isinstance(value, (list, tuple)) or (not variadic and len(value) != len(args)):
        raise mismatch(_expected_of(args[0]))
    item_types = [args[0]] * len(value) if variadic else list(args)
    try:
        return tuple(_coerce(t, v, prefix, f"{path}[{i}]")
                     for i, (t, v) in enumerate(zip(item_types, value, strict=True)))
    except _Mismatch as err:
        raise mismatch(err.expected) from None


def _expected_of(hint: Any) -> str:
    """What a value of scalar type ``hint`` is described as (for a list that is not a list at all)."""
    try:
        _coerce(hint, object(), "", "")
    except _Mismatch as err:
        return err.expected
    return "values"


def _records(cls: Any, value: Any, prefix: str, path: str) -> tuple[Any, ...]:
    """``tuple[SomeDataclass, ...]`` from a list of mappings.

    ROS parameter files cannot hold lists of mappings, so when the dataclass has a ``name`` field a
    mapping ``{name: {...}}`` stands for ``[{name: name, ...}]``.
    """
    named = "name" in {f.name for f in dataclasses.fields(cls)}
    if named and isinstance(value, Mapping):
        value = [dict(v, name=k) if isinstance(v, Mapping) else v for k, v in value.items()]
    if not isinstance(value, (list, tuple)):
        raise _Mismatch("a list of mappings" + (" or a mapping name -> mapping" if named else ""))
    return tuple(_coerce(cls, v, prefix, f"{path}[{i}]") for i, v in enumerate(value))


# --- plain data and overrides -------------------------------------------------------------------------


def to_data(value: Any) -> Any:
    """Plain dicts, lists, strings and numbers (YAML/JSON/ROS-parameter friendly); ``build`` reads it back."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    return value


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["lr=0.01", "augment.flip=0"]`` -> ``{"lr": 0.01, "augment.flip": 0}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {short(item)} is not of the form key=value")
        out[key.strip()] = load_yaml(value, f"override {short(item)}")
    return out


def apply_overrides(base: T | type[T], overrides: Mapping[str, Any], prefix: str) -> T:
    """``base`` (an instance, or a class for its defaults) with dotted ``overrides`` applied, rebuilt and
    type-checked: ``{"augment.flip": 0}`` sets a field of a nested dataclass, ``{"params.temperature":
    0.2}`` a key of a ``dict`` field."""
    cls: type[T] = base if isinstance(base, type) else type(base)
    data: dict[str, Any] = {} if isinstance(base, type) else to_data(base)
    for key, value in overrides.items():
        _set_dotted(cls, data, key, value, prefix)
    return build(cls, data, prefix)


def _set_dotted(cls: type, data: dict[str, Any], key: str, value: Any, prefix: str) -> None:
    parts = key.split(".")
    section, hint = data, cls
    for i, part in enumerate(parts):
        if dataclasses.is_dataclass(hint):
            hints = get_type_hints(hint)
            if part not in hints:
                raise ConfigError(f"override {short(key)}: unknown {prefix} key; known: {sorted(hints)}")
            hint = hints[part]
        else:
            hint = Any  # keys inside a dict field are free; the field's owner checks them
        if i == len(parts) - 1:
            section[part] = value
            return
        child = section.setdefault(part, {})
        if not (dataclasses.is_dataclass(hint) or get_origin(hint) is dict) or not isinstance(child, dict):
            raise ConfigError(f"override {short(key)}: {part} has no sub-keys")
        section = child
