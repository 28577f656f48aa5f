"""Software delivery (SPEC §12): the operator's release catalogue, what a room's device is
offered in its night-time window through its update ring, what devices report of their
installs, and compliance against the catalogue (docs/devices.md, "Software")."""
