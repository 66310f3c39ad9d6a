"""The archive: the SQLite database (store.py, the only code that opens it; schema.py), search form, lock, WACZ export."""
