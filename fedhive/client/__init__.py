"""Client updates: pure functions of (global params, client data, client state, key)."""

from fedhive.client.update import ClientResult, ClientUpdate, build_client_update, gradient_update, local_sgd_update

__all__ = ["ClientResult", "ClientUpdate", "build_client_update", "gradient_update", "local_sgd_update"]
