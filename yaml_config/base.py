"""Base model and secret handling shared by every config section."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr, model_validator

# where install.sh keeps the originals of systemd's credentials, per program
LOCAL_CREDENTIALS = (Path("/etc/edge-agent/credentials"), Path("/etc/control-room/credentials"))
# Set by a tool that uses none of the secrets (``edge-agent camera replay``): ``<field>_file``
# is not read, so a technician without access to the service's credentials can still load
# the config for its other settings; the field holds a placeholder.
SECRET_FILES_UNREAD: ContextVar[bool] = ContextVar("SECRET_FILES_UNREAD", default=False)
UNREAD_SECRET = "(secret file not read)"


class StrictModel(BaseModel):
    """Every config model: unknown keys are errors, values are validated on assignment.

    ``.inf`` and ``.nan`` are refused in every float field (they passed ``gt=0`` checks and
    crashed at run time); a field that really means "unbounded" opts in with
    ``Field(allow_inf_nan=True)``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False,
                              allow_inf_nan=False)


def read_secret_file(path_text: str) -> str:
    """Read a secret from a file; relative names are looked up in systemd's credentials dir."""
    path = Path(path_text)
    if not path.is_absolute():
        # systemd's LoadCredential= dir first, then where install.sh keeps the originals
        # (so a technician's `edge-agent check-config` works outside the service too)
        for folder in (os.environ.get("CREDENTIALS_DIRECTORY"), *map(str, LOCAL_CREDENTIALS)):
            if folder and (Path(folder) / path).is_file():
                path = Path(folder) / path
                break
    try:
        text = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    if not text.strip():  # e.g. install.sh's placeholder: say so, not "broker refused login"
        raise ValueError(f"secret file {path} is empty")
    return text


class _UnreadableSecret(str):
    """Carries a secret-file error to the field, so it is reported at the field's path."""


def _raise_unreadable(value: Any) -> Any:
    if isinstance(value, _UnreadableSecret):
        raise ValueError(str(value))
    return value


Secret = Annotated[SecretStr, BeforeValidator(_raise_unreadable)]
"""A secret string; in a ``SecretsModel`` it may also come from ``<field>_file``."""


class SecretsModel(StrictModel):
    """A model whose ``SecretStr`` fields may also be given as ``<field>_file: PATH``.

    ``password_file: mqtt_password`` reads the file (relative names from
    ``$CREDENTIALS_DIRECTORY`` first) and fills ``password``.
    """

    @model_validator(mode="before")
    @classmethod
    def _load_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, field in cls.model_fields.items():
            key = f"{name}_file"
            if field.annotation is not None and "SecretStr" in str(field.annotation) \
                    and key in data and key not in cls.model_fields:
                if data.get(name) is not None:
                    raise ValueError(f"give either '{name}' or '{key}', not both")
                if SECRET_FILES_UNREAD.get():
                    data.pop(key)
                    data[name] = UNREAD_SECRET
                    continue
                try:
                    data[name] = read_secret_file(str(data.pop(key)))
                except ValueError as exc:
                    data[name] = _UnreadableSecret(f"{key}: {exc}")
        return data


__all__ = ["Secret", "SecretStr", "SecretsModel", "StrictModel", "read_secret_file"]
