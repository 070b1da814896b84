"""YAML config files → validated pydantic models, with errors a technician can act on:
file:line:col, the key's path and "did you mean". Shared by the agent and the control room."""

from yaml_config.base import Secret, SecretsModel, StrictModel, read_secret_file
from yaml_config.loader import ConfigError, Loaded, Problem, format_loc, load_file, parse_text

__all__ = ["ConfigError", "Loaded", "Problem", "Secret", "SecretsModel", "StrictModel",
           "format_loc", "load_file", "parse_text", "read_secret_file"]
