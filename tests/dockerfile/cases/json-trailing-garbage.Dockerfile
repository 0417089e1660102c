FROM scratch
RUN ["echo"] x
