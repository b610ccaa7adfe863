"""What a browser gets where the API would answer JSON: HTML error pages, the favicon, offline API docs.

API clients (paths under /api/, or requests that do not accept HTML) keep FastAPI's JSON errors.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.i18n import LANGUAGE_COOKIE, pick_language, translate
from cloud.i18n_catalogs import N_

log = logging.getLogger("medfix.web")

STATIC = Path(__file__).parent / "static"

# (title, explanation) per status a person may meet; everything else reads as the generic error.
_ERROR_TEXTS = {
    404: ("Page not found", "The address may be mistyped, or the page was moved."),
    405: ("Page not found", "The address may be mistyped, or the page was moved."),
    401: (N_("Please sign in"), N_("This page is for signed-in users. Sign in, then open it again.")),
    403: ("No access", "Your account may not open this page."),
    413: (N_("Too much at once"), N_("What you sent is larger than this page accepts. Choose a smaller file, or "
                                     "send less at once.")),
    409: (N_("This has changed meanwhile"), N_("Someone else changed it at the same time. Go back, reload the page "
                                               "and try again.")),
    422: (N_("This address is not valid"), N_("A number or a value in the address or the form is missing or not "
                                              "valid. Go back and check it, or start again from the home page.")),
    429: (N_("Too many tries"), N_("Please wait a moment and try again.")),
    500: ("Something went wrong", "The service could not finish this request. Please try again in a moment."),
    503: (N_("The service is busy for a moment"), N_("Nothing was lost, but this could not be done just now (the "
                                                     "database is restarting). Please try again in a few seconds.")),
}


def wants_html(request: Request) -> bool:
    """A browser navigating to a page (not the API, not a script's fetch)."""
    if request.url.path.startswith(("/api/", "/ws", "/static/", "/vendor/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status_code: int, headers: dict[str, str] | None = None) -> HTMLResponse:
    """The zh-CN (or English) error page for status_code, rendered with the phone page layout."""
    from cloud.web.pages import render  # pages imports this module's neighbours; import at call time

    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    title, text = _ERROR_TEXTS.get(status_code, _ERROR_TEXTS[500])
    response = render(request, "h5/message.html", None, title=translate(title, language),
                      text=translate(text, language), icon="warn", link="/", link_text=translate("Home", language))
    response.status_code = status_code
    response.headers.update(headers or {})
    return response


def html_or(request: Request, response: JSONResponse) -> Response:
    """The app's JSON error for API clients; for a browser opening a page, the error page of the same status (no
    field names or English details on a page), with the same headers (Retry-After)."""
    if not wants_html(request):
        return response
    kept = {name: value for name, value in response.headers.items() if name.lower() in ("retry-after",
                                                                                          "www-authenticate")}
    return error_page(request, response.status_code, kept)


def install(app: FastAPI) -> None:
    """HTML errors for browsers, /favicon.ico, and /docs served from the npm package instead of a CDN."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if wants_html(request) and exc.status_code in _ERROR_TEXTS:
            return error_page(request, exc.status_code)
        return await http_exception_handler(request, exc)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        if wants_html(request):
            return error_page(request, 500)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, server_error)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        # Swagger UI from the swagger-ui-dist npm package (make assets): a CDN is unreachable offline and slow in China.
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="medfix API",
                                   swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/favicon.ico",
                                   oauth2_redirect_url="/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def api_docs_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
