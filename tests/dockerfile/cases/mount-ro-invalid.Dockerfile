FROM scratch
RUN --mount=target=/c,ro=maybe true
