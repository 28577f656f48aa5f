"""Events (SPEC §13): what happened, written as a row in the same transaction as the change
that caused it (an outbox), so a rolled-back change leaves none and a committed one is never
lost. ``catalogue`` lists every event type; ``service.emit`` records one. Webhooks
(roomwarden/webhooks) read the outbox and deliver it."""
