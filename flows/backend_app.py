"""The ML backend's HTTP app: the endpoints Label Studio calls on a model connection (label-studio-ml-backend's
protocol, as Label Studio 1.23.2's ml/api_connector.py uses it).

- ``GET /health`` (Label Studio waits 1 s): ``{"status": "UP"}``; answered on the event loop, never behind a
  prediction.
- ``POST /setup`` (3 s): ``{"model_version": ...}``, the champion's prediction version. Label Studio calls it before
  every prediction request and skips tasks that already hold a prediction of that version. The request carries
  the project owner's API token (``access_token``): it is neither kept nor logged.
- ``POST /predict`` (``{"tasks": [...], "project": "ID.created_at", ...}``): ``{"results": [...]}``, one entry per
  task in order, each a list of predictions (``result``, ``score``, ``model_version``) or empty. Label Studio stores
  each prediction with the model_version it carries.
- ``POST /webhook``: Label Studio sends every project event here once a backend is connected; answered OK.
"""
from __future__ import annotations

from fastapi import Body, FastAPI
from fastapi.concurrency import run_in_threadpool

from flows.backend_model import ChampionPredictor

MODEL_CLASS = "grainloop-champion"


def make_app(predictor: ChampionPredictor) -> FastAPI:
    app = FastAPI(title="grainloop ML backend", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/")
    @app.get("/health")
    async def health() -> dict:
        return {"status": "UP", "model_class": MODEL_CLASS}

    @app.post("/setup")
    async def setup(body: dict = Body(default_factory=dict)) -> dict:
        return {"model_version": await run_in_threadpool(predictor.model_version)}

    @app.post("/predict")
    async def predict(body: dict = Body(default_factory=dict)) -> dict:
        results = await run_in_threadpool(predictor.predict, body.get("tasks"), body.get("project"))
        return {"results": results}

    @app.post("/webhook", status_code=201)
    async def webhook(body: dict = Body(default_factory=dict)) -> dict:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> dict:
        return {}

    return app
