"""Fails on purpose."""
