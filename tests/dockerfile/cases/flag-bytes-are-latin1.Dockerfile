FROM scratch
RUN --mount=type=tmpfs,target=/é true
