"""Webhooks (SPEC §13): a tenant's endpoints, and the delivery of the events outbox
(roomwarden/events) to them, signed as Standard Webhooks, at least once, with retries.

``service`` manages endpoints (the secret shown once, rotation, a test event, deliveries and
their retry); ``targets`` decides who hears an event (a partner only about rooms in its link's
scope at the moment of sending); ``delivery`` is the background job that sends; the SSRF
guard is ``kit.egress`` with ``ROOMWARDEN_WEBHOOK_ALLOW_PRIVATE``."""
