"""The unit of work: one transaction of one caller, commands, idempotency and background runs."""
