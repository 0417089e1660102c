FROM scratch
RUN ["echo" "x"]
RUN ['single', 'quotes']
COPY ["a", b] /c
