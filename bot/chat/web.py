"""The web chat at `/`: one light page (no framework, inline script and style) for people
without Telegram. Interface strings come from the Babel catalogs; pack text from the chat API."""

from __future__ import annotations

from aiohttp import web
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bot.content.library import ContentLibrary
from bot.i18n import Translator, own_language_name
from bot.render import create_environment
from bot.settings import Settings

# The page may only talk to its own server; no third-party anything.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def page_locale(request: web.Request, library: ContentLibrary) -> str:
    """?lang= first, then the browser's languages, then the deployment's default."""
    wanted = request.query.get("lang")
    if wanted:
        return library.pick_locale(wanted)
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip()
        if tag and tag != "*":
            picked = library.pick_locale(tag)
            if picked.split("-")[0].lower() == tag.split("-")[0].lower():
                return picked
    return library.default_locale


def add_web_chat(app: web.Application, settings: Settings, library: ContentLibrary) -> None:
    environments: dict[str, ImmutableSandboxedEnvironment] = {}

    def environment(locale: str) -> ImmutableSandboxedEnvironment:
        if locale not in environments:
            environments[locale] = create_environment(Translator(locale), "bot.chat")
        return environments[locale]

    async def page(request: web.Request) -> web.Response:
        locale = page_locale(request, library)
        html = environment(locale).get_template("webchat.html.j2").render(
            lang=locale,
            languages=[{"tag": t, "name": own_language_name(t)} for t in library.locales],
            exit_url=settings.chat.quick_exit_url,
        )
        return web.Response(text=html, content_type="text/html", headers={
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        })

    app.router.add_get("/", page)
