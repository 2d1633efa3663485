"""Reward crowdfunding: campaigns, returns, pledges, payments, refunds (docs/crowdfunding.md)."""
