"""The HTTP API (``/api/v1``, SPEC §8): thin routes over the domain packages' services, one
module per feature. Routes compose features — nearly every one needs the access decision, and
many a partner's change control — so they sit above the whole domain, beside the portal."""
