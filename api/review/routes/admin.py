"""Progress for everyone; users, the audit log and the conflict view for admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from api.deps import SessionFactory
from api.review.errors import DashboardError
from api.review.pages import render
from api.review.params import RowId, optional_whole_number
from api.review.sessions import AdminLogin, CurrentLogin, PostingAdmin
from reflectseq.db.models import User
from reflectseq.db.session import transaction
from reflectseq.enums import ReviewStatus, UserRole
from reflectseq.passwords import MIN_PASSWORD_LENGTH, RULES
from reflectseq.store.audit import AuditAction, AuditFilter, list_entries, record
from reflectseq.store.errors import Conflict, NotFound
from reflectseq.store.reviews import (
    REJECT_REASONS,
    SEQUENCE_STANDINGS,
    conflicting_sequences,
    review_progress,
)
from reflectseq.store.users import InvalidUserInput, create_user, list_users, update_user

router = APIRouter()
AUDIT_PAGE = 100
# Least privilege: adding an admin is a deliberate choice, never what the form falls back to.
NEW_USER_ROLE = UserRole.REVIEWER


@router.get("/progress", name="progress")
def progress_page(request: Request, factory: SessionFactory, login: CurrentLogin) -> Response:
    """Counts by status and reviewer, and agreement (Cohen's kappa) where reviews overlap."""
    with transaction(factory) as session:
        progress = review_progress(session)
    return render(
        request,
        "progress.html",
        login,
        progress=progress,
        standings=SEQUENCE_STANDINGS,
        statuses=list(ReviewStatus),
    )


@router.get("/conflicts", name="conflicts")
def conflicts_page(request: Request, factory: SessionFactory, login: AdminLogin) -> Response:
    """Sequences that one reviewer accepted and another rejected."""
    with transaction(factory) as session:
        conflicts = conflicting_sequences(session)
        names = {uid: name for uid, name in session.execute(select(User.id, User.username))}
    return render(
        request, "conflicts.html", login, conflicts=conflicts, names=names, reasons=REJECT_REASONS
    )


def _optional_int(request: Request, name: str) -> int | None:
    return optional_whole_number(name, request.query_params.get(name))


@router.get("/audit", name="audit")
def audit_page(request: Request, factory: SessionFactory, login: AdminLogin) -> Response:
    """Every decision, edit, re-run, login and user change, newest first."""
    action_value = request.query_params.get("action") or None
    if action_value is not None and action_value not in {a.value for a in AuditAction}:
        raise DashboardError(400, f"'action' must be one of {', '.join(AuditAction)}.")
    filters = AuditFilter(
        actor_id=_optional_int(request, "actor"),
        sequence_id=_optional_int(request, "sequence"),
        action=AuditAction(action_value) if action_value else None,
    )
    with transaction(factory) as session:
        entries, before = list_entries(
            session, filters, before_id=_optional_int(request, "before"), limit=AUDIT_PAGE
        )
        users = list_users(session)
    return render(
        request,
        "audit.html",
        login,
        entries=entries,
        before=before,
        filters=filters,
        users=users,
        actions=list(AuditAction),
    )


@router.get("/users", name="users")
def users_page(request: Request, factory: SessionFactory, login: AdminLogin) -> Response:
    """The dashboard's users and a form to add one."""
    with transaction(factory) as session:
        users = list_users(session)
    return render(
        request,
        "users.html",
        login,
        users=users,
        roles=list(UserRole),
        default_role=NEW_USER_ROLE,
        rules=RULES,
        min_length=MIN_PASSWORD_LENGTH,
    )


def _role(value: str) -> UserRole:
    try:
        return UserRole(value)
    except ValueError as error:
        raise DashboardError(400, f"role must be one of {', '.join(UserRole)}") from error


@router.post("/users", name="create_user")
def create_user_route(
    factory: SessionFactory,
    login: PostingAdmin,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form()] = NEW_USER_ROLE.value,
) -> Response:
    """Add a user (admins only); a reviewer unless another role is chosen."""
    try:
        with transaction(factory) as session:
            user = create_user(session, username=username, password=password, role=_role(role))
            record(
                session,
                actor_id=login.user_id,
                action=AuditAction.USER_CREATE,
                details={"user": user.username, "role": user.role.value},
            )
    except InvalidUserInput as error:
        raise DashboardError(400, str(error)) from error
    except Conflict as error:
        raise DashboardError(409, str(error)) from error
    return RedirectResponse("/review/users", status_code=303)


@router.post("/users/{user_id}", name="update_user")
def update_user_route(
    user_id: RowId,
    factory: SessionFactory,
    login: PostingAdmin,
    role: Annotated[str, Form()],
    active: Annotated[str, Form()] = "",
) -> Response:
    """Change a user's role or deactivate them (which ends their sessions at once)."""
    if user_id == login.user_id and (role != UserRole.ADMIN or not active):
        raise DashboardError(400, "Admins cannot demote or deactivate themselves.")
    try:
        with transaction(factory) as session:
            user = update_user(session, user_id, role=_role(role), active=bool(active))
            record(
                session,
                actor_id=login.user_id,
                action=AuditAction.USER_UPDATE,
                details={"user": user.username, "role": user.role.value, "active": user.active},
            )
    except NotFound as error:
        raise DashboardError(404, str(error)) from error
    return RedirectResponse("/review/users", status_code=303)
