FROM scratch
RUN --mount=type=cache,target=/c,size=1m true
