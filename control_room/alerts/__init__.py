"""Alerts: a pure rule engine (fleet view + clock in, alert transitions out) and the
notification channels that tell people about them."""
