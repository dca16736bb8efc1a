"""Interchange statistics (SPEC 9): daily counters kept by a flush listener, and reports.

The listener is installed explicitly on a session factory (`app.hooks.install_session_hooks`),
by every process that writes: the API, the worker, the CLI, the tests' fixtures.
"""
