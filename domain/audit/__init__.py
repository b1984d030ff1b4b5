"""The audit trail: who did what, from where, when, to which objects, and how it ended; append-only."""
