"""The ASGI application: Socket.IO at /socket.io/, Channels websockets at /ws/, Django for HTTP.

Served by daphne; uvicorn works too.
"""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webui_backend.settings")
django.setup(set_prefix=False)  # set up Django before importing consumers

from webui_backend.threads import ASGIHandler  # noqa: E402

# Django's handler, with each request's thread taken from a free list (webui_backend/threads.py).
django_asgi_app = ASGIHandler()

import socketio  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from realtime.origins import SameOriginOrAllowed  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402
from realtime.socketio_app import sio  # noqa: E402

channels_app = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginOrAllowed(URLRouter(websocket_urlpatterns)),
    }
)
from webui_backend.lifecycle import GracefulApp  # noqa: E402

# GracefulApp: connections counted and drained on shutdown (webui_backend.server).
application = GracefulApp(
    socketio.ASGIApp(sio, other_asgi_app=channels_app, socketio_path="socket.io")
)

# What is loaded by now (Django, the apps, every library: ~170,000 objects) lives as long as
# the process. Frozen, the collector stops walking it: a full collection, which stalls every
# request in flight, took 126 ms before and 19 ms after (Python's docs suggest the same).
gc.freeze()
