"""Change control (SPEC §5): partner actions held until the customer approves them."""
