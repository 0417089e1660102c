FROM scratch AS a
FROM scratch AS b
RUN --mount=from=a,target=/m true
FROM scratch AS c
COPY --from=b x y
FROM scratch AS d
