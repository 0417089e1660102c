FROM scratch
RUN --mount=type=bind,target=\"/a b\" true
