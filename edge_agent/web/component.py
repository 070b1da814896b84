"""The web component: serves the page and the API while the agent runs."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from edge_agent.config.model import AgentConfig
from edge_agent.runtime import AgentContext, Component
from edge_agent.web.server import WebApp

log = logging.getLogger(__name__)


class WebComponent:
    name = "web"

    async def run(self, ctx: AgentContext) -> None:
        config = ctx.config.http
        runner = web.AppRunner(WebApp(ctx, config).build(), access_log=None,
                               handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.bind, config.port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                raise RuntimeError(f"cannot listen on {config.bind}:{config.port}: "
                                   f"{exc.strerror or exc} (http.bind / http.port)") from None
            for address in runner.addresses:
                host, port = address[0], address[1]
                host = f"[{host}]" if ":" in host else host  # an IPv6 URL needs brackets
                log.info("web: page on http://%s:%d/ (writes %s)", host, port,
                         "need the token" if config.token else "disabled: no http.token")
            await asyncio.Event().wait()  # serve until cancelled
        finally:
            await runner.cleanup()


def build_components(config: AgentConfig) -> list[Component]:
    return [WebComponent()]
