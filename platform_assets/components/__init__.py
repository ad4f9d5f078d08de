"""The component types a team writes in ``defs/<folder>/defs.yaml`` (``dg list components``)."""

from platform_assets.components.event_stream import EventStreamSource
from platform_assets.components.file_drop import FileDropSource
from platform_assets.components.rest_api import RestApiSource
from platform_assets.components.sql_database import SqlDatabaseSource
from platform_assets.components.sql_transforms import SqlTransforms

__all__ = [
    "EventStreamSource",
    "FileDropSource",
    "RestApiSource",
    "SqlDatabaseSource",
    "SqlTransforms",
]
