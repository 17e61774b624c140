"""``/v1/endpoints``: the LLM endpoints a submission may name, without their URLs or keys."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Reviewer
from api.deps import Endpoints
from api.errors import AUTH_RESPONSES
from api.schemas import EndpointLimitsOut, EndpointOut

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"])


@router.get(
    "", response_model=list[EndpointOut], responses=AUTH_RESPONSES, summary="List LLM endpoints"
)
def list_endpoints(_: Reviewer, registry: Endpoints) -> list[EndpointOut]:
    """The endpoints the operator declared: name, kind, allowed models and limits.

    A generation config names one of these (`endpoint`) and one of its models (`model`).
    Base URLs and keys stay on the server.
    """
    return [
        EndpointOut(
            name=endpoint.name,
            kind=endpoint.kind,
            models=list(endpoint.models),
            default_model=endpoint.default_model,
            default=endpoint.name == registry.default_name,
            context_tokens=endpoint.context_tokens,
            limits=EndpointLimitsOut(
                requests_per_minute=endpoint.limits.requests_per_minute,
                tokens_per_minute=endpoint.limits.tokens_per_minute,
                max_concurrency=endpoint.limits.max_concurrency,
                timeout_s=endpoint.timeout_s,
            ),
        )
        for endpoint in sorted(registry.endpoints.values(), key=lambda e: e.name)
    ]
