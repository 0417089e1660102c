FROM python:3.10
RUN --mount=type=cache,target=/pip-packages \
    pip install --target=/pip-packages uwsgi
