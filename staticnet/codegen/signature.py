"""The parameters of a generated function: named groups, in the order its `def` lists them.

The code generator writes each function's `def` from its Signature and the runtime calls it through
`bind`, by group name, so the order of the parameters is decided here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    name: str
    parameters: tuple[str, ...]
    many: bool = False  # the group takes a list, one value per parameter; else it is one parameter


def one(name: str) -> Group:
    return Group(name, (name,))


@dataclass(frozen=True)
class Signature:
    function: str
    groups: tuple[Group, ...]

    @property
    def parameters(self) -> list[str]:
        return [p for group in self.groups for p in group.parameters]

    def bind(self, **values) -> list:
        """The positional arguments of a call, from a value (or, for a group of many, a list) per group."""
        names = [group.name for group in self.groups]
        if set(values) != set(names):
            missing, unknown = [n for n in names if n not in values], [n for n in values if n not in names]
            raise TypeError(f"internal error: {self.function}() takes {', '.join(names)}; "
                            f"missing {missing}, unknown {unknown}")
        arguments = []
        for group in self.groups:
            value = values[group.name]
            if not group.many:
                arguments.append(value)
                continue
            value = list(value)
            if len(value) != len(group.parameters):
                raise TypeError(f"internal error: {self.function}() takes {len(group.parameters)} {group.name}, "
                                f"got {len(value)}")
            arguments += value
        return arguments
