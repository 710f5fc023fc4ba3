"""Helpers the tests share: fake intakes and receivers, servers, wire-format checks."""
