FROM scratch
RUN echo hi \