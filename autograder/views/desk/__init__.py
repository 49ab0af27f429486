"""The TA desk, `cnngrade serve`: a local web app (Starlette, Jinja2, served by uvicorn) for
everything `report`, `feedback`, `override` and `manual` do (see app and security)."""
