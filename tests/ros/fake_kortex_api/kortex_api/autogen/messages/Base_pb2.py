from kortex_api._fake import ACTION_ABORT, ACTION_END, ACTION_START, NotificationOptions, WaypointList

__all__ = ["ACTION_ABORT", "ACTION_END", "ACTION_START", "NotificationOptions", "WaypointList"]
