FROM scratch
RUN echo a # not a comment
