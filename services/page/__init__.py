"""The service's own page, an ASGI app mounted beside the API: ``/`` (drop a song and see its genre; the model's
facts and evaluation plots), ``/docs`` (the API description: Swagger UI on the assets BentoML bundles) and the
page's files under ``/page/``. Plain HTML, CSS and JavaScript that load nothing from elsewhere; the page itself
holds no data and stays open like the docs, while everything it shows comes from the API, behind its token."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

FILES = Path(__file__).parent / "files"
# the page may reach this service only: no CDN, font, script or image from elsewhere, no inline script
POLICY = ("default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; connect-src 'self'; "
          "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


async def index(_: Request) -> FileResponse:
    return FileResponse(FILES / "index.html", headers={"content-security-policy": POLICY,
                                                       "cache-control": "no-cache"})


async def docs(_: Request) -> FileResponse:
    return FileResponse(FILES / "docs.html", headers={"cache-control": "no-cache"})


page_app = Starlette(routes=[Route("/", index), Route("/docs", docs),
                             Mount("/page", StaticFiles(directory=FILES), name="page")])
