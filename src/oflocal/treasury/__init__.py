"""The treasurer's own entries (会計伝票) and the bank reconciliation (銀行残高照合)."""
