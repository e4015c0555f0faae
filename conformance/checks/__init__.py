"""The built-in checks; each test function is one catalog entry."""
