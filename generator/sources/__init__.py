"""READ: legacy services from a snapshot (directory or JSON file) into typed records."""
