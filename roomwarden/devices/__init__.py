"""Devices and monitoring (SPEC §11): a room's device enrols with the room's enrollment key,
reports its signals, and the service derives the room's health and opens and resolves
monitoring tickets by itself (docs/devices.md)."""
