"""Federated sign-in with each tenant's own OpenID Connect provider (SPEC §7)."""
