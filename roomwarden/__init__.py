"""Roomwarden: meeting-room fleets with scoped delegation to partner organisations."""

__version__ = "0.1.0"
