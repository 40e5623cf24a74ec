"""Node parameters as frozen dataclasses: one field = one declared ROS parameter.

A field's metadata (``param(...)``) carries the description and the allowed range or choices;
``declare_config`` declares every field on the node with a ParameterDescriptor (FloatingPointRange /
IntegerRange, so ``ros2 param describe`` shows them), reads the values once and validates them, so a
bad value stops the node at start-up with the parameter's name and the reason. Types and metadata are
checked by ``ros_ssl.config.schema`` like every other config. The dataclasses themselves are ROS-free:
tests and the launch-file checks use them without rclpy.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, fields
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from ros_ssl.config.schema import build, validate_fields
from ros_ssl.errors import ConfigError

if TYPE_CHECKING:
    from rclpy.node import Node

T = TypeVar("T")


def param(description: str, lo: float | None = None, hi: float | None = None,
          choices: tuple[str, ...] = (), dynamic: bool = False) -> dict[str, Any]:
    """Field metadata: what the parameter means, its inclusive range or allowed strings, and whether the
    node accepts a new value while running (``dynamic``; the node then handles the change itself)."""
    return {"description": description, "range": None if lo is None else (lo, hi), "choices": choices,
            "dynamic": dynamic}


def param_types(cls: type) -> dict[str, type]:
    """Parameter name -> Python type (bool, int, float, str or tuple for string arrays)."""
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] if isinstance(hints[f.name], type) else tuple for f in fields(cls)}


def check_fields(cfg: Any) -> None:
    """Check every field against its type, range and choices; raise ConfigError naming the first bad one."""
    validate_fields(cfg, "parameter")


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    raise ConfigError(f"parameter {f.name} has no default")


def declare_config(node: Node, cls: type[T]) -> T:
    """Declare each field of ``cls`` on ``node``, read the values once, and return ``cls(...).validate()``."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    ros_type = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
                float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING,
                tuple: ParameterType.PARAMETER_STRING_ARRAY}
    types = param_types(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        meta, kind, default = f.metadata, types[f.name], _default(f)
        desc = ParameterDescriptor(name=f.name, type=ros_type[kind], description=meta.get("description", ""),
                                   read_only=not meta.get("dynamic", False))
        rng = meta.get("range")
        if rng is not None and kind is float:
            desc.floating_point_range = [FloatingPointRange(from_value=float(rng[0]), to_value=float(rng[1]))]
        elif rng is not None and kind is int:
            desc.integer_range = [IntegerRange(from_value=int(rng[0]), to_value=int(rng[1]), step=1)]
        if meta.get("choices"):
            desc.additional_constraints = f"one of: {', '.join(meta['choices'])}"
        initial = list(default) if kind is tuple else default
        try:
            value = node.declare_parameter(f.name, initial, desc).value
        except (InvalidParameterValueException, InvalidParameterTypeException) as err:
            raise ConfigError(f"node {node.get_name()}: parameter {f.name}: {err}") from err
        values[f.name] = tuple(value or ()) if kind is tuple else value
    try:
        return build(cls, values, "parameter").validate()  # type: ignore[attr-defined,no-any-return]
    except ConfigError as err:
        raise ConfigError(f"node {node.get_name()}: {err}") from err
