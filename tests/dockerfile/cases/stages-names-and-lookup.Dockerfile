FROM scratch AS Build
FROM build AS test
FROM scratch
COPY --from=BUILD /a /b
COPY --from=1 /c /d
