#!/bin/sh
# The image's entrypoint: one role per container, chosen by the first argument.
#   web      daphne with graceful shutdown on $PORT (default 8080)
#   worker   a Celery worker (warm shutdown: running jobs finish, or go back to the queue)
#   beat     Celery beat (run exactly one)
#   migrate  database migrations (run once before a rollout: a Job / a compose service)
#   anything else is run as given (python manage.py createsuperuser, sh, ...)
set -eu
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
    web)
        # webui_backend.server adds the websocket size limits the application expects.
        exec python -m webui_backend.server -b 0.0.0.0 -p "${PORT:-8080}" --proxy-headers \
            --application-close-timeout 30 "$@" webui_backend.asgi:application ;;
    worker)
        # SIGTERM: wait WORKER_SHUTDOWN_TIMEOUT for running jobs, then requeue them (Celery's
        # soft shutdown); a plain SIGTERM would wait for them without limit.
        export REMAP_SIGTERM="${REMAP_SIGTERM:-SIGQUIT}"
        exec celery -A webui_backend worker -l "${LOG_LEVEL:-INFO}" \
            --concurrency "${WORKER_CONCURRENCY:-2}" --without-gossip --without-mingle "$@" ;;
    beat)
        exec celery -A webui_backend beat -l "${LOG_LEVEL:-INFO}" \
            --schedule "${DATA_DIR:-/data}/celerybeat-schedule" "$@" ;;
    migrate)
        exec python manage.py migrate --no-input "$@" ;;
    *)
        exec "$role" "$@" ;;
esac
