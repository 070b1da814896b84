"""A fleet of simulated gateways that speak the MQTT contract (``contract``) exactly.

Many gateways per process on one asyncio loop, each with its own MQTT 5 connection
(persistent session, birth and Last Will, dense ``seq``, commands answered), realistic rates,
a dusk burst, full-jitter reconnects and an in-memory bounded outbox replayed with
``replayed: true``. Run ``python -m control_room.sim --help``.

Imports ``contract`` and never ``edge_agent``: a test compares its message shapes with those of
real agents, so it cannot drift from the real thing.
"""
