"""The agent's one MQTT side: the link (``link.py``) and what it needs of paho beneath
aiomqtt (``wire.py``). No other package imports aiomqtt or paho."""

from edge_agent.mqtt.link import LinkDown, MqttLink
from edge_agent.mqtt.wire import MqttErrors, paho_client, watch_messages

__all__ = ["LinkDown", "MqttErrors", "MqttLink", "paho_client", "watch_messages"]
