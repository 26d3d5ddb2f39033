"""Differential privacy (central and local, adaptive clipping, accounting) and secure
aggregation, as server-chain transforms and client-update wrappers."""
