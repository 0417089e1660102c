FROM scratch
COPY --parents a/b /c
