"""``GET /docs``: interactive documentation of /openapi.json whose every asset the product serves
itself (issue 13), without a token; and an honest page where Swagger UI is not installed."""

from __future__ import annotations

from html.parser import HTMLParser
from importlib import metadata
from urllib.parse import urljoin, urlsplit

import pytest

from api.http import docs
from tests.e2e.http.support import Api

MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
}


def installed() -> bool:
    try:
        metadata.distribution(docs.SWAGGER_UI_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return False
    return True


class References(HTMLParser):
    """Every URL a page makes the browser load or offers as a link."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.loaded.append(attributes["src"] or "")
        elif tag == "link" and attributes.get("href"):
            self.loaded.append(attributes["href"] or "")
        elif tag in ("img", "iframe", "source") and attributes.get("src"):
            self.loaded.append(attributes["src"] or "")
        elif tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")


def page(api: Api) -> tuple[str, References]:
    response = api.client.get("/docs")  # no token
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    parser = References()
    parser.feed(response.text)
    return str(response.url), parser


@pytest.mark.skipif(not installed(), reason="swagger-ui-py (Swagger UI's files) is not installed")
def test_the_docs_page_loads_only_assets_the_product_serves(api: Api) -> None:
    url, references = page(api)
    origin = urlsplit(url).netloc

    assert len(references.loaded) == 4  # the stylesheet, the icon, Swagger UI, its start-up
    for reference in references.loaded:
        absolute = urljoin(url, reference)
        assert urlsplit(absolute).netloc == origin, reference
        asset = api.client.get(absolute)
        assert asset.status_code == 200, reference
        suffix = "." + absolute.rsplit(".", 1)[1]
        assert asset.headers["content-type"] == MEDIA_TYPES[suffix], reference
        assert len(asset.content) > 0
    start = api.client.get(urljoin(url, "docs/assets/docs.js")).text
    assert 'new URL("openapi.json", document.baseURI)' in start
    assert "validatorUrl: null" in start  # Swagger UI would otherwise call an outside validator


def test_without_swagger_ui_the_page_says_so_and_links_the_document(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs, "swagger_ui_dir", lambda: None)

    url, references = page(api)

    assert references.loaded == []
    assert [urljoin(url, link) for link in references.links] == [urljoin(url, "/openapi.json")]
    missing = api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "name", ["index.html", "swagger-ui.js.map", "..%2F..%2Fpyproject.toml", "docs.html", "%2e%2e"]
)
def test_only_the_page_assets_are_served(api: Api, name: str) -> None:
    response = api.client.get(f"/docs/assets/{name}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
