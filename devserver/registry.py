"""What the server knows of user code: function configs and registration errors.

Filled from worker reports (the server never imports user code); read by the HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from durable._define.config import FunctionConfig, parse_function_config


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    """A registered function as the server sees it."""

    id: str
    app_id: str
    config: FunctionConfig
    file: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``GET /api/functions`` shape of one function."""
        raw = self.config.to_dict()
        return {
            "id": self.id,
            "app_id": self.app_id,
            "name": self.config.name,
            "triggers": raw.get("triggers", []),
            "config": {k: v for k, v in raw.items() if k not in ("id", "triggers")},
            "file": self.file,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class RegistrationError:
    """A module that failed to load or register, with where it went wrong."""

    file: str
    line: int | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The ``errors`` entry of ``GET /api/functions``."""
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass(slots=True)
class Registry:
    """The last good set of functions, plus the errors of the last load."""

    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    errors: list[RegistrationError] = field(default_factory=list)

    def replace(self, functions: list[FunctionInfo], errors: list[RegistrationError]) -> None:
        """Install a new load. Modules that failed keep their last good functions."""
        failed_files = {e.file for e in errors}
        kept = {
            fid: info
            for fid, info in self.functions.items()
            if info.file in failed_files and fid not in {f.id for f in functions}
        }
        self.functions = {**kept, **{f.id: f for f in functions}}
        self.errors = list(errors)

    def configs(self) -> list[FunctionConfig]:
        """The configs the orchestrator schedules."""
        return [info.config for info in self.functions.values()]


def function_info_from_wire(raw: dict[str, Any]) -> FunctionInfo:
    """Rebuild a function reported by a worker (its options are validated again here)."""
    return FunctionInfo(
        id=raw["id"],
        app_id=raw["app_id"],
        config=parse_function_config(raw["options"]),
        file=raw.get("file"),
        line=raw.get("line"),
    )
