from kortex_api._fake import BaseClient

__all__ = ["BaseClient"]
