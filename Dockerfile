# syntax=docker/dockerfile:1
#
# Mastery Engine: one image for every role. The command names the role:
#   serve (the default), consume, project, publish, migrate, and every other `mastery` command.
#
# No Docker engine runs where this file is written, so it is kept plain enough to be right
# without a build: three stages, each step a single well-known command, linted by hadolint and
# scanned by checkov in `make test` (docs/operations.md). Build it from the repository's root:
#   docker build -t mastery-engine:0.1.0 .

# --- the dashboard's chart library (what `make dashboard` does: uPlot out of npm) ------------
FROM node:22.12.0-bookworm-slim AS dashboard
WORKDIR /src
COPY api/http/dashboard/package.json api/http/dashboard/package-lock.json ./
# Only the run-time dependency (uPlot) and no install scripts: axe-core is for the tests.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && mkdir vendor \
    && cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css vendor/

# --- wheels of the product and of its dependencies (core only: no embedded servers, no dev) --
FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain/ domain/
COPY projections/ projections/
COPY infrastructure/ infrastructure/
COPY api/ api/
COPY migrations/ migrations/
COPY --from=dashboard /src/vendor/ api/http/dashboard/vendor/
RUN pip wheel --wheel-dir /wheels .

# --- the runtime: the wheels installed, nothing else -----------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="mastery-engine" \
      org.opencontainers.image.description="Event-sourced learning-mastery service" \
      org.opencontainers.image.version="0.1.0"

# A numeric, non-root user (Kubernetes' runAsNonRoot can only verify a numeric one). Its home
# and the temporary folder are /tmp, the one writable place: the root file system can be
# read-only. Bytecode is compiled at install time, so nothing writes .pyc files at run time.
RUN groupadd --system --gid 10001 mastery \
    && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin mastery
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    MASTERY_DATA_DIR=/tmp/mastery \
    MASTERY_HTTP_HOST=0.0.0.0 \
    MASTERY_HTTP_PORT=8000

# The wheels come from the builder through a bind mount, so they are not a layer of the image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/mastery_engine-*.whl

WORKDIR /tmp
USER 10001:10001
EXPOSE 8000

# For the API role (the default command). curl is not in the slim image, so the check is a few
# lines of the image's own Python. Worker roles: `docker run --health-cmd "mastery ready consumer"`
# (or projector, publisher); Kubernetes ignores HEALTHCHECK and uses the chart's probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MASTERY_HTTP_PORT', '8000') + '/healthz', timeout=4)"]

ENTRYPOINT ["mastery"]
CMD ["serve"]
