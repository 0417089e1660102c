FROM scratch AS a
COPY --from=b x y
FROM scratch AS b
