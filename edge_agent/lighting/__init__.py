"""Street lighting: schedules evaluated as state, reconciled onto relays."""
