"""Health and usage reports over room-local days (SPEC §12, docs/reports.md): the daily
roll-ups monitoring keeps up to date, the meetings devices report, and the reports drawn from
them for a customer's and a partner's scope."""
