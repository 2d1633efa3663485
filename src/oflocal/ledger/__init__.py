"""Double-entry ledger: accounts, an append-only journal, and the identities it keeps."""
