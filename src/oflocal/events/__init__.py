"""Events and their participating workshops."""
