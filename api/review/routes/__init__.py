"""The dashboard's routes, one module per page group, under one ``/review`` router."""

from __future__ import annotations

from fastapi import APIRouter

from api.review.routes import account, admin, assets, auth, edits, queue, sequence

router = APIRouter(prefix="/review", include_in_schema=False)
for module in (auth, account, queue, sequence, edits, admin, assets):
    router.include_router(module.router)
