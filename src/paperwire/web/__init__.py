"""The web site and its JSON API: FastAPI + Jinja2, server-rendered pages that work without
JavaScript, the Hugging Face-compatible API, Atom feeds. :mod:`.app` builds the application;
:mod:`.deps` and :mod:`.responses` are what every view builds on; each router module
registers itself through the ``register_routes`` hook."""
