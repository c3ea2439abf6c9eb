"""The reference the process bench measures Steward against: a plain FastAPI endpoint doing the least
a filing must do — one INSERT + COMMIT (asyncpg, one round trip) and one JetStream publish with a
``Nats-Msg-Id`` — served by uvicorn with the same event loop and HTTP parser choice as the services.

    python -m bench.reference_app   # STEWARD_DATABASE_URL, STEWARD_NATS_URL, STEWARD_HTTP_PORT

``POST /items`` → 201 ``{"id": …}``; ``GET /items/{id}`` → the row (one SELECT by id, the least a
read by id must do: the reference of the process bench's read rows); ``GET /readyz`` →
``{"instance": STEWARD_INSTANCE_ID}`` (as the services answer, so the same readiness check applies).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import nats
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

SUBJECT = "bench.reference.items"
STREAM = "BENCH_REFERENCE"


class Item(BaseModel):
    model_config = {"extra": "allow"}
    title: str = ""


def build() -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dsn = os.environ["STEWARD_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS reference_items "
            "(id uuid PRIMARY KEY, title text NOT NULL, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        )
        nc = await nats.connect(os.environ["STEWARD_NATS_URL"])
        js = nc.jetstream()
        with contextlib.suppress(Exception):  # it exists already (a restart): fine
            await js.add_stream(name=STREAM, subjects=[f"{SUBJECT}.>", SUBJECT])
        state.update(pool=pool, js=js)
        yield
        await nc.drain()
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready", "instance": os.environ.get("STEWARD_INSTANCE_ID", "")}

    @app.post("/items", status_code=201)
    async def create(item: Item) -> dict[str, str]:
        item_id = uuid.uuid4()
        body = item.model_dump_json()
        await state["pool"].execute(
            "INSERT INTO reference_items (id, title, body) VALUES ($1, $2, $3::jsonb)",
            item_id,
            item.title,
            body,
        )
        payload = json.dumps({"id": str(item_id), "title": item.title}).encode()
        await state["js"].publish(SUBJECT, payload, headers={"Nats-Msg-Id": str(item_id)})
        return {"id": str(item_id)}

    @app.get("/items/{item_id}")
    async def read(item_id: uuid.UUID) -> dict[str, Any]:
        row = await state["pool"].fetchrow(
            "SELECT id, title, body, created_at FROM reference_items WHERE id = $1", item_id
        )
        if row is None:
            raise HTTPException(404)
        return {
            "id": str(row["id"]),
            "title": row["title"],
            "body": json.loads(row["body"]),
            "created_at": row["created_at"],
        }

    return app


def main() -> None:
    uvicorn.run(
        build(),
        host="127.0.0.1",
        port=int(os.environ["STEWARD_HTTP_PORT"]),
        log_level="warning",
        access_log=False,
        loop="auto",
        server_header=False,
    )


if __name__ == "__main__":
    main()
