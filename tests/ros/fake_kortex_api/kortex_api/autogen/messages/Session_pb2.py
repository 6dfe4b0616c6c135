from kortex_api._fake import CreateSessionInfo

__all__ = ["CreateSessionInfo"]
