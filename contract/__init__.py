"""The MQTT contract between the gateways and the control room, as code.

Imports neither ``edge_agent`` nor ``control_room``: it is the only thing both sides share.
"""

from contract.envelope import (
    MAX_JSON_DEPTH,
    SCHEMA_VERSION,
    ContractError,
    Envelope,
    decode,
    encode,
    envelope_fields,
    new_id,
    parse_time,
    utc_iso,
    wrap,
)
from contract.topics import (
    COMMANDS,
    TOPICS,
    CommandSpec,
    Message,
    TopicSpec,
    base_topic,
    find_command,
    find_topic,
    message_model,
    parse,
    payload_schemas,
    validation_text,
)

__all__ = [
    "COMMANDS", "MAX_JSON_DEPTH", "SCHEMA_VERSION", "TOPICS", "CommandSpec", "ContractError",
    "Envelope", "Message", "TopicSpec", "base_topic", "decode", "encode", "envelope_fields",
    "find_command", "find_topic", "message_model", "new_id", "parse", "parse_time",
    "payload_schemas", "utc_iso", "validation_text", "wrap",
]
