FROM scratch
RUN echo a \  
  b
