"""Points: a double-entry, append-only ledger with expiring lots [P1]–[P7]."""
