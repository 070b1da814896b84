"""Commune edge agent: street lights, cameras and wifi hotspots of a village, over MQTT."""

__version__ = "0.1.0"
