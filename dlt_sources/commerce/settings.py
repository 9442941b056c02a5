"""Tables the commerce source reads from the point-of-sale database, with their keys."""

# table -> primary key; every table has an `updated_at` cursor maintained by the POS system.
TABLES = {
    "stores": "store_id",
    "customers": "loyalty_id",
    "orders": "order_id",
    "order_lines": "line_id",
}
CURSOR_COLUMN = "updated_at"
CHUNK_SIZE = 50_000
