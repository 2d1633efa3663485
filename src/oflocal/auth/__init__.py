"""Staff accounts, workshop PIN logins, sessions and API tokens."""
