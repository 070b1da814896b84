"""Wifi hotspots: probes, link statistics, state with hysteresis."""
