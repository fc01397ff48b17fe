"""Satisfaction pages: the e-mail's one-click link (no login) and the tracking page's form.

A click on a score in the result e-mail is a GET that records it: that is what "one
click" means, and the token in the link is spent by it. Mail scanners that follow links
would spend it too; the tracking page, behind the login, can always change the answer.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from engine.errors import Conflict, ValidationFailed
from engine.service import (
    SATISFACTION_CHANGE_DAYS,
    SATISFACTION_COMMENT_MAX,
    SATISFACTION_SCALE,
    LinkAnswer,
    LinkOutcome,
)
from web.auth import login_required, signed_in_user
from web.context import service as svc

bp = Blueprint("satisfaction", __name__)

_STATUS = {
    LinkOutcome.RECORDED: 200,
    LinkOutcome.ALREADY_USED: 409,
    LinkOutcome.EXPIRED: 409,
    LinkOutcome.INVALID: 404,
}


def _page(token: str, status: int, **context: Any) -> Any:
    return render_template(
        "satisfaction/link.html",
        token=token,
        scale=SATISFACTION_SCALE,
        comment_max=SATISFACTION_COMMENT_MAX,
        change_days=SATISFACTION_CHANGE_DAYS,
        errors=context.pop("errors", {}),
        **context,
    ), status


def _answered(token: str, answer: LinkAnswer, commented: bool = False) -> Any:
    return _page(
        token,
        _STATUS[answer.outcome],
        outcome=answer.outcome.value,
        answer=answer,
        commented=commented,
    )


@bp.route("/avaliacao/<token>", methods=["GET", "POST"])
def link(token: str) -> Any:
    if request.method == "GET":
        if request.args.get("nota") is None:
            return _page(token, 200, outcome="escolher")
        try:
            answer = svc().satisfaction.answer_by_link(token, request.args.get("nota"))
        except ValidationFailed:
            return _page(token, 422, outcome="escolher")
        return _answered(token, answer)
    rating, comment = request.form.get("nota"), request.form.get("comentario", "")
    try:
        answer = svc().satisfaction.comment_by_link(token, rating, comment)
    except ValidationFailed as refused:
        return _page(
            token,
            422,
            outcome="erro",
            errors=refused.errors,
            rating=int(rating) if rating in {"1", "2", "3", "4", "5"} else None,
            comment=comment,
        )
    return _answered(token, answer, commented=True)


@bp.post("/chamados/<int:chamado_id>/avaliacao")
@login_required
def answer(chamado_id: int) -> Any:
    rating, comment = request.form.get("nota"), request.form.get("comentario", "")
    try:
        svc().satisfaction.answer(signed_in_user(), chamado_id, rating, comment)
    except ValidationFailed as refused:
        # The tracking page again, with the errors and everything typed kept.
        from web.requester import render_tracking

        return render_tracking(
            chamado_id,
            satisfaction_errors=refused.errors,
            satisfaction_typed={"nota": rating, "comentario": comment},
            status=422,
        )
    except Conflict as stale:
        flash(stale.message, "warning")
        return redirect(url_for("requester.tracking", chamado_id=chamado_id))
    flash("Obrigado! Sua avaliação foi registrada.", "success")
    return redirect(url_for("requester.tracking", chamado_id=chamado_id) + "#avaliacao")


def init_satisfaction(app: Any) -> None:
    app.register_blueprint(bp)
