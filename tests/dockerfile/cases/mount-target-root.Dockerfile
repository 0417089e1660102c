FROM scratch
RUN --mount=type=tmpfs true
