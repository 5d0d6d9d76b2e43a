"""``GET /docs``: interactive documentation of ``/openapi.json`` (Swagger UI), every file served
by the product itself, so the page works offline and sends nothing to another origin.

Swagger UI's built files come from the ``swagger-ui-py`` package (Swagger UI 5, the first major
version that reads OpenAPI 3.1); only the three files the page uses are served, by name. The
page and its start-up script are ours (``static/``). Without that package ``/docs`` still
answers, with a page that says so and links the document. Like ``/openapi.json``, no token.
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from api.http.guard import problem_for
from api.http.problems import ProblemError

SWAGGER_UI_DISTRIBUTION = "swagger-ui-py"
STATIC = Path(__file__).parent / "static"
HTML = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
# The Swagger UI files the page references, and their media types.
VENDOR_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": JAVASCRIPT,
    "favicon-32x32.png": "image/png",
}
OWN_ASSETS = {"docs.js": JAVASCRIPT}


@cache
def swagger_ui_dir() -> Path | None:
    """Where the installed Swagger UI files are, or None. Found through the distribution's
    metadata, without importing the package (its import pulls in its web-framework helpers)."""
    try:
        located = metadata.distribution(SWAGGER_UI_DISTRIBUTION).locate_file("swagger_ui/static")
    except metadata.PackageNotFoundError:
        return None
    folder = Path(str(located))
    complete = all((folder / name).is_file() for name in VENDOR_ASSETS)
    return folder if complete else None


async def docs_page(request: Request) -> Response:
    page = "docs.html" if swagger_ui_dir() is not None else "docs-unavailable.html"
    return FileResponse(STATIC / page, media_type=HTML)


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    try:
        path, media_type = _asset(name)
    except ProblemError as exc:
        return problem_for(request, exc)
    return FileResponse(path, media_type=media_type)


def _asset(name: str) -> tuple[Path, str]:
    """The file and media type of a page asset; only names listed above are served."""
    if name in OWN_ASSETS:
        return STATIC / name, OWN_ASSETS[name]
    vendor = swagger_ui_dir()
    if name in VENDOR_ASSETS and vendor is not None:
        return vendor / name, VENDOR_ASSETS[name]
    raise ProblemError(404, "no such asset")


routes: list[Route] = [
    Route("/docs", docs_page, methods=["GET"], name="docs"),
    Route("/docs/assets/{name}", docs_asset, methods=["GET"], name="docs_asset"),
]
