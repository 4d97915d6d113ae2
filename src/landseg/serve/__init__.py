"""``landseg serve``: a local web app for planners (upload, segment, view, download).

:func:`landseg.serve.app.create_app` builds the FastAPI application; jobs persist in SQLite and a
results folder (:mod:`landseg.serve.jobs`); uploads are streamed and checked by content
(:mod:`landseg.serve.uploads`). Needs the ``serve`` extra (fastapi, uvicorn, python-multipart).
"""
