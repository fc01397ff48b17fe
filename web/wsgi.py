"""WSGI entry point for production servers: ``chamados serve`` runs granian on ``web.wsgi:app``.

Refuses to start on a database behind the code or without an OpenID provider
(the development provider is for `make run` only), and runs the scheduler inside
the worker only when asked (CHAMADOS_SCHEDULER=embedded); in production run
``chamados scheduler`` as its own process instead.
"""

from __future__ import annotations

import gc
import os

from web.startup import production_app

app = production_app()

if os.environ.get("CHAMADOS_SCHEDULER") == "embedded":
    interval = float(os.environ.get("CHAMADOS_SCHEDULER_INTERVAL", "5"))
    app.extensions["chamados"].scheduler(interval_seconds=interval).start()

# What is built by now (modules, the app, its caches) lives as long as the worker: moved
# out of the cyclic collector's reach, a full collection no longer walks those ~180,000
# objects every few hundred requests (bench/two_tasks.py: collector time per instance
# 0.5 → 0.2 ms, and no ~90 ms pause in the middle of some request).
gc.collect()
gc.freeze()
