"""The archive: the SQLite database (the only code that touches it), search form, lock, WACZ export."""
