"""Registers the page blueprints."""

from __future__ import annotations

from flask import Flask


def init_views(app: Flask) -> None:
    from web import (
        admin,
        analyst,
        catalogs_admin,
        dashboard,
        designer,
        groups_admin,
        outages,
        privacy,
        ready_answers,
        requester,
        sandbox,
        satisfaction,
    )

    app.register_blueprint(requester.bp)
    app.register_blueprint(analyst.bp)
    admin.init_admin(app)
    catalogs_admin.init_catalogs_admin(app)
    groups_admin.init_groups_admin(app)
    designer.init_designer(app)
    sandbox.init_sandbox(app)  # "Executar teste" of a draft
    satisfaction.init_satisfaction(app)
    ready_answers.init_ready_answers(app)
    privacy.init_privacy(app)
    outages.init_outages(app)
    dashboard.init_dashboard(app)
