FROM scratch AS a
COPY --from=bad@@ref x y
FROM scratch
