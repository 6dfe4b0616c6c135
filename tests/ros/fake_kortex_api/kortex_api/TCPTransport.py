from kortex_api._fake import TCPTransport

__all__ = ["TCPTransport"]
