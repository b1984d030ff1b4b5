# Loyalty Club service image: `loyalty serve` against an external PostgreSQL (DATABASE_URL).
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, for a cached layer that changes only with uv.lock.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY domain domain
COPY schema schema
COPY resolvers resolvers
COPY migrations migrations
COPY loyalty loyalty
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app loyalty
WORKDIR /app
COPY --from=build --chown=loyalty /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" \
    LOYALTY_ENVIRONMENT=production \
    LOYALTY_HOST=0.0.0.0 \
    LOYALTY_PORT=8000 \
    LOYALTY_DATA_DIR=/tmp/loyalty
USER loyalty
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"
CMD ["loyalty", "serve"]
