"""The HTTP server: one Starlette app wiring GraphQL (devagent.api), /metrics
(devagent.metrics) and the static pages, behind the access guard.

- `app`: create_app(settings) -> the ASGI app (routes, middleware; no logic);
- `server`: serve(settings) runs it under uvicorn, with the start-up banner;
- `security`: Guard, the bearer-token and origin checks;
- `playground`: the GraphQL page served at `/` (static/playground.html).
"""
