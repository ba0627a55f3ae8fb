"""The HTTP server: one Starlette app wiring GraphQL (devagent.api), /metrics
(devagent.metrics) and the static pages, behind the access guard.

- `app`: create_app(settings) -> the ASGI app (routes, middleware; no logic);
- `server`: serve(settings) runs it under uvicorn, with the start-up banner;
- `connections`: uvicorn's HTTP protocol with receive timeouts and a connection cap;
- `security`: Guard, the bearer-token and origin checks;
- `pages`: the HTML of GraphiQL (`/`) and of the web UI (`/ui/...`), their security headers;
- `static_files`: StaticFiles, web/static served at versioned URLs (the pages' scripts,
  styles and the vendored libraries listed in static/vendor/VENDOR.md).
"""
