FROM scratch
COPY --from=3 a b
