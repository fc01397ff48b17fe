"""Domain of the chamados product: workflow execution, persistence, queue.

Imports neither Flask nor Authlib; the web layer calls the use cases in
:mod:`engine.service` and turns results and :mod:`engine.errors` into pages.
"""
