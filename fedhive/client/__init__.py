"""Client updates: pure functions of (global params, client data, client state, inputs, key)."""

from fedhive.client.update import ClientResult, ClientUpdate, gradient_update, local_sgd_update, local_update

__all__ = ["ClientResult", "ClientUpdate", "gradient_update", "local_sgd_update", "local_update"]
