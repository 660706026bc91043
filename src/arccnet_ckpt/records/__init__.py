"""The files of a run folder: one pydantic model per file (``models``), their shipped JSON Schemas (``schema``,
``schemas/``)."""
