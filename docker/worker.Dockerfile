# The Prefect worker of the stack: the project's locked environment and code, polling work pool `grainloop`.
# Built from the repository root (docker/compose.yaml: context ..); docker/worker.Dockerfile.dockerignore keeps
# local state, virtual environments and secrets out of the build context.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=1 MLFLOW_DISABLE_TELEMETRY=true

# git: DVC and the runs' lineage tags (git sha) need it; tesseract-ocr: scale-bar labels (foundation/scalelabel.py)
RUN apt-get update && apt-get install -y --no-install-recommends git tesseract-ocr && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
# dvc-s3 (the MinIO/S3 remote) is installed under the lock's constraints, so the locked versions stay
RUN pip install -r requirements.lock && pip install -c requirements.lock dvc-s3==3.3.0

COPY . .
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 1000 grainloop \
    && mkdir -p /app/.grainloop /grainloop/images \
    && chown grainloop /app/.grainloop /grainloop/images
USER grainloop

CMD ["prefect", "worker", "start", "--pool", "grainloop", "--type", "process", "--with-healthcheck"]
