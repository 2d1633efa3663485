"""Settlement: closing periods, paying workshops, and the Zengin bank-transfer file."""
