"""Interchange statistics (SPEC 9): daily counters kept by a flush listener, and reports.

Importing the package installs the listener once for the whole process, so every process
that loads the models (API, worker, CLI, migrations, tests) keeps the counters.
"""

from app.stats import listener as _listener

_listener.install()
