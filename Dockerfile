# syntax=docker/dockerfile:1
# The reflectseq application image: API, dashboard, Celery workers and the CLI.
# Language toolchains are not in here: sandboxed programs run in the per-language images of
# sandbox_images/ (docker backend), started through the docker socket proxy (see docs/operations.md).

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reflectseq ./reflectseq
COPY api ./api
COPY workers ./workers
COPY trainer ./trainer
COPY migrations ./migrations
COPY sandbox_images/__init__.py sandbox_images/languages.toml ./sandbox_images/
RUN pip wheel --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    REFLECTSEQ_DATA_DIR=/data
# curl only serves the health check; Debian's security updates matter more than pinned versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 reflectseq \
    && useradd --system --uid 10001 --gid reflectseq --home-dir /data --create-home reflectseq
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8000/healthz"]
CMD ["reflectseq", "serve", "--host", "0.0.0.0", "--port", "8000"]
