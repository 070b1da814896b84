"""The commune control room: receives every gateway over MQTT (through ``contract`` only),
stores state and history, raises alerts, sends commands and serves the console."""

__version__ = "0.1.0"
