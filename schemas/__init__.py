"""JSON Schemas of the conformance suite (import name ``otelconform_schemas``)."""
from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
