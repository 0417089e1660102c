FROM scratch AS a
ARG X=fromA
ENV Y=y
FROM a
ENV Z=$X$Y
