FROM scratch
RUN --mount=type=cache,target=/c,sahring=private true
