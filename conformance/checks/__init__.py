"""The built-in checks; each test function is one catalog entry.

PYTEST_DONT_REWRITE: the suite fails checks by raising, never with a bare assert.
"""
