"""Websocket routes. The realtime issue adds the consumers for ``/ws/`` and Socket.IO here."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
