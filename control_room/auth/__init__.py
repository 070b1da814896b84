"""Console users, roles, sessions and the audit log of every write."""
