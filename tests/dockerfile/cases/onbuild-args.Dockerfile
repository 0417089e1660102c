FROM scratch
ONBUILD COPY --from=x a b
