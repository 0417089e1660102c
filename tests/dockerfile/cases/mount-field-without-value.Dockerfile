FROM scratch
RUN --mount=target=/c,cache true
