# escape=`
FROM scratch
RUN echo a `
    b
COPY a\b c\d
