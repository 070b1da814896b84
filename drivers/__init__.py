"""Everything that touches a wire. Never imports ``edge_agent``."""
