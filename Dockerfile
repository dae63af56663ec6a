# One image for the API and the worker (the command differs): docker compose up, see docker-compose.yml.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1

WORKDIR /app

# Dependencies first (pinned in pyproject.toml), so code changes do not reinstall them.
COPY pyproject.toml ./
RUN mkdir -p blp jobstore service worker \
    && touch blp/__init__.py jobstore/__init__.py service/__init__.py worker/__init__.py \
    && pip install . \
    && pip uninstall --yes blp-service

COPY blp/ blp/
COPY jobstore/ jobstore/
COPY service/ service/
COPY worker/ worker/
RUN pip install --no-deps . \
    && groupadd --gid 10001 blp \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin blp

# Numeric, so an orchestrator can check it is not root without reading the image's /etc/passwd.
USER 10001:10001
EXPOSE 8000
CMD ["uvicorn", "service.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
