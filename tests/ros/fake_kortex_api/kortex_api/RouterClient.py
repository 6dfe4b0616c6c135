from kortex_api._fake import RouterClient, RouterClientSendOptions

__all__ = ["RouterClient", "RouterClientSendOptions"]
