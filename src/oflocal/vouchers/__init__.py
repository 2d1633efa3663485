"""Premium voucher programmes: booklets, tickets, desk sales and redemptions."""
