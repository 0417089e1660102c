FROM scratch
RUN --mount=from=${B},target=/c true
