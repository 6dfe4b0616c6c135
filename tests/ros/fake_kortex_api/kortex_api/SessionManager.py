from kortex_api._fake import SessionManager

__all__ = ["SessionManager"]
