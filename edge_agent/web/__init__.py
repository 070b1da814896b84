"""Local web page, /healthz, /metrics and the JSON status API."""
