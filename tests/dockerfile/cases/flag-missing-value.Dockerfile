FROM scratch
COPY --from x y
